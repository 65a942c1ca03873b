package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// read records the names a loader looks up.
func read(load func(Getenv) error) []string {
	var names []string
	_ = load(func(name string) (string, bool) {
		names = append(names, name)
		return "", false
	})
	return names
}

// TestVarsListWhatIsRead: --help lists every variable the loaders read
// (and nothing they do not), and the README's configuration tables name
// each of them with the same default.
func TestVarsListWhatIsRead(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		vars  []Var
		read  []string
		extra []string // read outside the loader
	}{
		{"server", ServerVars, read(func(g Getenv) error { _, err := LoadServer(g); return err }), []string{"DEBUG_ADDR"}},
		{"worker", WorkerVars, read(func(g Getenv) error { _, err := LoadWorker(g); return err }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var listed []string
			for _, v := range tt.vars {
				listed = append(listed, v.Name)
				row := "| `" + v.Name + "` |"
				if !strings.Contains(string(readme), row) {
					t.Errorf("README has no configuration row for %s", v.Name)
				}
			}
			want := slices.Concat(tt.read, tt.extra)
			slices.Sort(want)
			want = slices.Compact(want)
			slices.Sort(listed)
			if !slices.Equal(listed, want) {
				t.Errorf("documented %v, read %v", listed, want)
			}
		})
	}
}
