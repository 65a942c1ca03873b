// Package version tells which build of Quizcast is running, from the
// build information the Go toolchain stamps into every binary
// (runtime/debug.ReadBuildInfo): the module version, the VCS revision and
// the Go version. Nothing is injected with -ldflags.
package version

import (
	"fmt"
	"runtime/debug"
)

// Info identifies a build.
type Info struct {
	// Version is the main module's version: a tag such as v1.2.3 for
	// `go install …@v1.2.3`, "(devel)" for a build from a work tree.
	Version string
	// Revision is the VCS commit, with "+dirty" when the tree had
	// uncommitted changes; "unknown" when the build had no VCS stamp
	// (-buildvcs=false, or a build context without .git such as the image).
	Revision string
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get reads the running binary's build information.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", Revision: "unknown", GoVersion: "unknown"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from bi.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, Revision: "unknown", GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "unknown"
	}
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != "unknown" {
		in.Revision += "+dirty"
	}
	return in
}

// String is the one line `server version` prints.
func (i Info) String() string {
	return fmt.Sprintf("quizcast %s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}
