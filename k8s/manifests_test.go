package k8s

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/quizcast/quizcast/internal/config"
)

// The kustomizations docs/deployment.md applies; each must exist and build.
var wantKustomizations = []string{"base", "datastores", "monitoring", "overlays/dev", "overlays/prod"}

func mustDecoder(t *testing.T) *decoder {
	t.Helper()
	d, err := newDecoder()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestManifestFiles decodes every manifest file on its own, strictly, and
// checks that each belongs to exactly one kustomization, except the
// *.template.yaml files, which belong to none and hold no secret.
func TestManifestFiles(t *testing.T) {
	d := mustDecoder(t)
	files, err := manifestFiles(".")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := kustomizations(".")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int{}
	for _, dir := range dirs {
		res, err := kustomizationResources(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			used[r]++
		}
	}
	if len(files) < 10 {
		t.Fatalf("found only %d manifest files: %v", len(files), files)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			ms, err := d.decodeFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) == 0 {
				t.Fatal("no object")
			}
			if strings.HasSuffix(f, ".template.yaml") {
				if used[f] != 0 {
					t.Errorf("a template is referenced by a kustomization: its placeholders would be applied")
				}
				checkTemplate(t, ms)
				return
			}
			if used[f] != 1 {
				t.Errorf("referenced by %d kustomizations, want 1", used[f])
			}
		})
	}
}

// checkTemplate: only Secrets, and every value a placeholder.
func checkTemplate(t *testing.T, ms []manifest) {
	t.Helper()
	for _, m := range ms {
		s, ok := m.Obj.(*corev1.Secret)
		if !ok {
			t.Errorf("%s: a template holds Secrets only", m.Source)
			continue
		}
		if len(s.Data) > 0 {
			t.Errorf("%s: use stringData with CHANGE_ME placeholders, not data", m.Source)
		}
		for k, v := range s.StringData {
			if !strings.Contains(v, "CHANGE_ME") {
				t.Errorf("%s: %s is not a CHANGE_ME placeholder", m.Source, k)
			}
		}
	}
}

// TestKustomizeBuilds builds every kustomization through the kustomize API,
// decodes the output strictly and applies the checks.
func TestKustomizeBuilds(t *testing.T) {
	d := mustDecoder(t)
	dirs, err := kustomizations(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range wantKustomizations {
		if !slices.Contains(dirs, filepath.FromSlash(want)) {
			t.Errorf("missing kustomization %s", want)
		}
	}
	for _, dir := range dirs {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			set, err := d.build(dir)
			if err != nil {
				t.Fatal(err)
			}
			p := checkObjects(set)
			switch dir := filepath.ToSlash(dir); {
			case dir == "base" || strings.HasPrefix(dir, "overlays/"):
				p = append(p, checkApp(set)...)
			case dir == "datastores":
				p = append(p, checkDatastores(set)...)
			case dir == "monitoring":
				rules, rp := alertRules(set)
				p = append(p, rp...)
				if len(rules) == 0 {
					t.Error("no alert rules")
				}
			}
			for _, problem := range p {
				t.Error(problem)
			}
		})
	}
}

// TestBrokenFixturesFail shows the checker catches each defect: the valid
// fixture passes, and each broken copy of it fails for its own reason.
func TestBrokenFixturesFail(t *testing.T) {
	d := mustDecoder(t)
	check := func(file string) []string {
		set, err := d.decodeFile(filepath.Join("testdata", file))
		if err != nil {
			return []string{err.Error()}
		}
		return checkObjects(set)
	}
	if p := check("valid.yaml"); len(p) > 0 {
		t.Fatalf("valid.yaml: %v", p)
	}
	for file, want := range map[string]string{
		"unknown-field.yaml":        `unknown field "spec.template.spec.containers[0].readinesProbe"`,
		"missing-probe.yaml":        "missing livenessProbe",
		"missing-limit.yaml":        "missing resource limits.memory",
		"latest-tag.yaml":           "uses the latest tag",
		"short-grace.yaml":          "terminationGracePeriodSeconds 30s < preStop 10s + SHUTDOWN_TIMEOUT 25s",
		"root.yaml":                 "securityContext.runAsNonRoot must be true",
		"open-datastore.yaml":       "may reach [PostgreSQL]",
		"no-websocket-ingress.yaml": "proxy-read-timeout must be at least 3600",
	} {
		t.Run(file, func(t *testing.T) {
			p := check(file)
			if len(p) == 0 {
				t.Fatal("the checker accepted a broken manifest")
			}
			// Only the one defect: the rest of the file is valid.yaml.
			for _, problem := range p {
				if !strings.Contains(problem, want) {
					t.Errorf("want only problems containing %q, got %q", want, problem)
				}
			}
		})
	}
}

// TestConfigurationLoads feeds each build's ConfigMap and the Secret
// template to the server's and worker's own configuration loaders: the
// ConfigMap is valid, and the template's JWT_SECRET placeholder is refused,
// so an unedited template can never start a server.
func TestConfigurationLoads(t *testing.T) {
	d := mustDecoder(t)
	tmpl, err := d.decodeFile("secret.template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secret, ok := tmpl[0].Obj.(*corev1.Secret)
	if !ok || secret.Name != secretName {
		t.Fatalf("secret.template.yaml must hold Secret %s", secretName)
	}
	for _, dir := range []string{"base", "overlays/dev", "overlays/prod"} {
		t.Run(dir, func(t *testing.T) {
			set, err := d.build(dir)
			if err != nil {
				t.Fatal(err)
			}
			var cm *corev1.ConfigMap
			for _, m := range set {
				if c, ok := m.Obj.(*corev1.ConfigMap); ok {
					cm = c
				}
			}
			if cm == nil {
				t.Fatal("no ConfigMap")
			}
			env := map[string]string{}
			for k, v := range cm.Data {
				env[k] = v
			}
			for k, v := range secret.StringData {
				if _, dup := env[k]; dup {
					t.Errorf("%s is in both the ConfigMap and the Secret", k)
				}
				env[k] = v
			}
			get := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			_, err = config.LoadServer(get)
			if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
				t.Fatalf("the template's JWT_SECRET placeholder must be refused, got %v", err)
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 {
				t.Fatalf("only JWT_SECRET may be refused, got:\n%v", err)
			}
			env["JWT_SECRET"] = "Zq8vN2mK5pR7tX1cB4fH9jL3wY6sD0gAe5uI"
			if _, err := config.LoadServer(get); err != nil {
				t.Errorf("server configuration: %v", err)
			}
			if _, err := config.LoadWorker(get); err != nil {
				t.Errorf("worker configuration: %v", err)
			}
		})
	}
}

// TestAlertsAndRunbook: every alert links to a section of
// docs/operations.md, and every quizcast_* metric an alert uses is
// documented there.
func TestAlertsAndRunbook(t *testing.T) {
	d := mustDecoder(t)
	set, err := d.build("monitoring")
	if err != nil {
		t.Fatal(err)
	}
	rules, p := alertRules(set)
	for _, problem := range p {
		t.Error(problem)
	}
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(doc))
	for _, r := range rules {
		_, frag, ok := strings.Cut(r.RunbookURL, "/docs/operations.md#")
		if !ok || !anchors[frag] {
			t.Errorf("%s (%s): runbook_url %q is not a section of docs/operations.md", r.Source, r.Alert, r.RunbookURL)
		}
		for _, m := range r.ExprMetrics {
			if !strings.Contains(string(doc), "`"+m+"`") {
				t.Errorf("%s (%s): metric %s is not documented in docs/operations.md", r.Source, r.Alert, m)
			}
		}
	}
}

var headingRE = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// markdownAnchors returns the GitHub anchors of a Markdown document's
// headings.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(doc, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		out[b.String()] = true
	}
	return out
}

// TestDashboardShipped: the monitoring kustomization carries the Grafana
// dashboard, byte for byte, in a ConfigMap with the label Grafana's
// dashboard sidecar looks for.
func TestDashboardShipped(t *testing.T) {
	d := mustDecoder(t)
	set, err := d.build("monitoring")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range set {
		cm, ok := m.Obj.(*corev1.ConfigMap)
		if !ok || cm.Name != "quizcast-grafana-dashboard" {
			continue
		}
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("%s: labels %v, want grafana_dashboard: \"1\"", m.Source, cm.Labels)
		}
		if cm.Data["quizcast.json"] != string(want) {
			t.Errorf("%s: quizcast.json is not monitoring/grafana-dashboard.json", m.Source)
		}
		return
	}
	t.Fatal("no ConfigMap quizcast-grafana-dashboard in the monitoring build")
}
