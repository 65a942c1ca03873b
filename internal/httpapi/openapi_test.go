package httpapi_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/quizcast/quizcast/internal/testenv"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestOpenAPIMatchesRoutes: every route the router registers is in
// api/openapi.yaml with its method, and every operation there is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	methods := []string{"get", "put", "post", "delete", "patch", "head", "options"}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(methods, m) {
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}

	// Routes need no services to be listed; an env is not needed.
	routed := map[string]bool{}
	for _, r := range routesOf(t) {
		routed[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("route %s is not in api/openapi.yaml", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("api/openapi.yaml documents %s, which is not routed", d)
		}
	}
	if len(routed) < 20 {
		t.Fatalf("only %d routes registered", len(routed))
	}
}
