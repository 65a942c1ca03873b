package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
	}{
		{"tagged clean", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}},
			Info{"v1.4.0", "abc123", "go1.26.8"}},
		{"dirty tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}},
			Info{"(devel)", "abc123+dirty", "go1.26.8"}},
		{"no vcs stamp", debug.BuildInfo{GoVersion: "go1.26.8"}, Info{"unknown", "unknown", "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromBuildInfo(&tt.bi); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGetNamesTheToolchain(t *testing.T) {
	t.Parallel()
	if got := Get(); !strings.HasPrefix(got.GoVersion, "go") || !strings.Contains(got.String(), got.GoVersion) {
		t.Fatalf("Get() = %+v, %q", got, got.String())
	}
}
