package k8s

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string
}

// stage is one build stage of the Dockerfile.
type stage struct {
	From  string
	Name  string
	Instr []instruction
}

func readDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var global []instruction // ARGs before the first FROM
	var line strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "#") || (text == "" && line.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(text, "\\"); ok {
			line.WriteString(cont + " ")
			continue
		}
		line.WriteString(text)
		cmd, args, _ := strings.Cut(strings.TrimSpace(line.String()), " ")
		line.Reset()
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			fields := strings.Fields(in.Args)
			s := stage{From: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.Name = fields[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			global = append(global, in)
			continue
		}
		stages[len(stages)-1].Instr = append(stages[len(stages)-1].Instr, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	// Expand the global ARG defaults in FROM lines.
	for _, in := range global {
		if in.Cmd != "ARG" {
			continue
		}
		if name, def, ok := strings.Cut(in.Args, "="); ok {
			for i := range stages {
				stages[i].From = strings.ReplaceAll(stages[i].From, "${"+name+"}", def)
			}
		}
	}
	return stages
}

// shellWords splits a shell command line into words, honouring single and
// double quotes (enough for a build line).
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// buildLine is a `go build` command: its environment, flags, output and
// packages.
type buildLine struct {
	Env      []string
	Flags    []string
	Output   string
	Packages []string
}

func parseBuild(words []string) (buildLine, error) {
	var b buildLine
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		b.Env = append(b.Env, words[i])
	}
	if len(words) < i+2 || words[i] != "go" || words[i+1] != "build" {
		return b, fmt.Errorf("not a go build line: %q", words)
	}
	rest := words[i+2:]
	for j := 0; j < len(rest); j++ {
		switch {
		case rest[j] == "-o" && j+1 < len(rest):
			b.Output = rest[j+1]
			j++
		case strings.HasPrefix(rest[j], "-"):
			b.Flags = append(b.Flags, rest[j])
		default:
			b.Packages = append(b.Packages, rest[j])
		}
	}
	return b, nil
}

// makefileBuild reads the Makefile's build recipe with GO_BUILD_FLAGS and
// the CGO_ENABLED it exports expanded.
func makefileBuild(t *testing.T) buildLine {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	varRE := regexp.MustCompile(`(?m)^(?:export\s+)?([A-Z_]+)\s*[:?]?=\s*(.*)$`)
	for _, m := range varRE.FindAllStringSubmatch(string(data), -1) {
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	recipe := regexp.MustCompile(`(?m)^build:.*\n\t(.+)$`).FindStringSubmatch(string(data))
	if recipe == nil {
		t.Fatal("Makefile has no build target")
	}
	line := regexp.MustCompile(`\$\(([A-Z_]+)\)`).ReplaceAllStringFunc(recipe[1], func(ref string) string {
		return vars[ref[2:len(ref)-1]]
	})
	words, err := shellWords(line)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseBuild(words)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := vars["CGO_ENABLED"]; ok {
		b.Env = append(b.Env, "CGO_ENABLED="+v)
	}
	return b
}

// dockerBuild finds the go build of the Dockerfile's build stage.
func dockerBuild(t *testing.T, stages []stage) buildLine {
	t.Helper()
	for _, s := range stages {
		for _, in := range s.Instr {
			if in.Cmd != "RUN" || !strings.Contains(in.Args, "go build") {
				continue
			}
			words, err := shellWords(in.Args)
			if err != nil {
				t.Fatal(err)
			}
			// RUN flags (--mount=...) come first.
			for len(words) > 0 && strings.HasPrefix(words[0], "--") {
				words = words[1:]
			}
			b, err := parseBuild(words)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("the Dockerfile runs no go build")
	return buildLine{}
}

// TestDockerfileBuildsLikeMakefile: the image's binaries are built with the
// Makefile's flags and CGO_ENABLED, for the same packages.
func TestDockerfileBuildsLikeMakefile(t *testing.T) {
	mk := makefileBuild(t)
	df := dockerBuild(t, readDockerfile(t))
	if !slices.Equal(mk.Flags, df.Flags) {
		t.Errorf("go build flags differ: Makefile %q, Dockerfile %q", mk.Flags, df.Flags)
	}
	if !slices.Equal(mk.Packages, df.Packages) {
		t.Errorf("packages differ: Makefile %q, Dockerfile %q", mk.Packages, df.Packages)
	}
	if !slices.Contains(mk.Env, "CGO_ENABLED=0") || !slices.Contains(df.Env, "CGO_ENABLED=0") {
		t.Errorf("both must build with CGO_ENABLED=0 (static binaries): Makefile %q, Dockerfile %q", mk.Env, df.Env)
	}
}

// TestDockerfileImage holds the image's promises: the Go toolchain of
// go.mod, a distroless final stage, a non-root user, exec-form entrypoint,
// both binaries, and no secret in ENV or ARG.
func TestDockerfileImage(t *testing.T) {
	stages := readDockerfile(t)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go\s+(\S+)$`).FindStringSubmatch(string(gomod))
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	build := stages[0]
	if !strings.HasPrefix(build.From, "golang:"+goVersion[1]+"-") && build.From != "golang:"+goVersion[1] {
		t.Errorf("build stage FROM %s: want golang:%s (go.mod's go directive)", build.From, goVersion[1])
	}

	names := map[string]bool{}
	for _, s := range stages {
		names[s.Name] = true
	}
	for _, want := range []string{"build", "compose", "runtime"} {
		if !names[want] {
			t.Errorf("no stage named %s", want)
		}
	}
	secretish := regexp.MustCompile(`(?i)secret|password|passwd|token|_URL\b|api_?key`)
	for _, s := range stages {
		for _, in := range s.Instr {
			if (in.Cmd == "ENV" || in.Cmd == "ARG") && secretish.MatchString(in.Args) {
				t.Errorf("stage %s: %s %s looks like a secret baked into the image", s.Name, in.Cmd, in.Args)
			}
		}
		if s.Name == "build" {
			continue
		}
		// Every image stage: distroless static, non-root, exec form.
		if !strings.HasPrefix(s.From, "gcr.io/distroless/static") {
			t.Errorf("stage %s FROM %s: want gcr.io/distroless/static", s.Name, s.From)
		}
		var user, entrypoint string
		var copied []string
		for _, in := range s.Instr {
			switch in.Cmd {
			case "USER":
				user = in.Args
			case "ENTRYPOINT":
				entrypoint = in.Args
			case "COPY":
				copied = append(copied, strings.Fields(in.Args)...)
			}
		}
		if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("stage %s: USER %q, want a non-root numeric user", s.Name, user)
		}
		var argv []string
		if err := json.Unmarshal([]byte(entrypoint), &argv); err != nil || len(argv) == 0 {
			t.Errorf("stage %s: ENTRYPOINT %s must be exec form (there is no shell)", s.Name, entrypoint)
		}
		for _, bin := range []string{"server", "eventworker"} {
			if !slices.ContainsFunc(copied, func(w string) bool { return path.Base(w) == bin }) {
				t.Errorf("stage %s does not copy %s", s.Name, bin)
			}
		}
	}
	last := stages[len(stages)-1]
	if last.Name != "runtime" || strings.Contains(last.From, "debug") {
		t.Errorf("the default (last) stage must be the production runtime without busybox, got %s FROM %s", last.Name, last.From)
	}
}

// TestDockerignoreKeepsSources: no file the binaries are built from is
// excluded from the build context.
func TestDockerignoreKeepsSources(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") || strings.Contains(l, "**") {
			t.Fatalf(".dockerignore pattern %q: this test's matcher knows plain patterns only", l)
		}
		patterns = append(patterns, strings.TrimPrefix(l, "/"))
	}
	// k8s/ is a module of its own: list the commands from the main module.
	list := exec.Command(goTool(t), "list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module", "./cmd/...")
	list.Dir = ".."
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var pkg struct {
			Dir        string
			GoFiles    []string
			EmbedFiles []string
			Module     *struct{ Main bool }
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || !pkg.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(pkg.GoFiles, pkg.EmbedFiles...) {
			files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(files) < 5 {
		t.Fatalf("go list found only %v", files)
	}
	for _, f := range files {
		// A pattern excludes a path when it matches the path or one of its
		// parent directories (Docker's rule).
		for p := f; p != "." && p != "/"; p = path.Dir(p) {
			for _, pat := range patterns {
				if ok, _ := path.Match(pat, p); ok {
					t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pat, f)
				}
			}
		}
	}
}

// TestImageBinariesBuild runs the Dockerfile's go build line (into a
// temporary directory instead of /out) and checks what the image would
// copy: static executables, stripped, built with -trimpath.
func TestImageBinariesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every command")
	}
	b := dockerBuild(t, readDockerfile(t))
	dir := t.TempDir()
	args := append([]string{"build"}, b.Flags...)
	args = append(args, "-o", dir+"/")
	args = append(args, b.Packages...)
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), b.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, bin := range []string{"server", "eventworker"} {
		t.Run(bin, func(t *testing.T) {
			file := filepath.Join(dir, bin)
			f, err := elf.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("has a program interpreter: not a static binary (distroless static has no libc)")
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("links shared libraries %v", libs)
			}
			// -trimpath keeps -ldflags out of the build info, so -s -w are
			// checked by what they remove: the symbol table and DWARF.
			if f.Section(".symtab") != nil {
				t.Error("has a symbol table: not built with -ldflags=-s")
			}
			if f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil {
				t.Error("has DWARF: not built with -ldflags=-w")
			}
			info, err := buildinfo.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			if settings["-trimpath"] != "true" || settings["CGO_ENABLED"] != "0" {
				t.Errorf("build settings %v, want -trimpath=true CGO_ENABLED=0", settings)
			}
		})
	}
}

// goTool is the go command of the toolchain running the tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	t.Fatal("no go command on PATH")
	return ""
}
