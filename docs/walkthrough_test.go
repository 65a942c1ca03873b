package docs_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/teststack"
)

// shellBlocks returns the ```sh blocks of a Markdown document, in order.
func shellBlocks(t *testing.T, md string) []string {
	t.Helper()
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	if in {
		t.Fatal("unterminated ```sh block")
	}
	return blocks
}

// TestWalkthroughRuns runs every command of docs/api-walkthrough.md, in
// order, with bash, curl and jq against a server node and the event worker
// over the test's PostgreSQL, Redis and RabbitMQ (every exchange held to
// api/openapi.yaml and api/asyncapi.yaml), with the example WebSocket
// client built from examples/wsclient.
func TestWalkthroughRuns(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed to run the walkthrough: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	root := testenv.RepoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "docs", "api-walkthrough.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(t, string(raw))
	if len(blocks) < 10 {
		t.Fatalf("only %d sh blocks", len(blocks))
	}
	script := strings.Join(blocks, "\n")
	const host = "H=http://localhost:8080"
	const client = "go run ./examples/wsclient"
	for _, must := range []string{host, client} {
		if !strings.Contains(script, must) {
			t.Fatalf("the walkthrough no longer has %q, which this test replaces", must)
		}
	}

	cl := teststack.Start(t, 1, node.Options{})
	teststack.StartWorker(t, cl, rabbitmq.DefaultTopology(), 200*time.Millisecond)
	dir := t.TempDir()
	bin := filepath.Join(dir, "wsclient")
	build := exec.Command("go", "build", "-o", bin, "./examples/wsclient")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build examples/wsclient: %v\n%s", err, out)
	}
	script = strings.Replace(script, host, "H="+cl.URL(0), 1)
	script = strings.ReplaceAll(script, client, bin)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		`"name":"Hilltop School"`,                            // register
		`"role":"teacher"`,                                   // POST /teachers
		`"state":"running"`,                                  // start
		`"answer_id"`,                                        // the REST answer
		`"state":"ended"`,                                    // end
		`"type":"answer.accepted"`, `"type":"session.ended"`, // the example client's frames
		`"code":"validation_failed"`, `"code":"unauthorized"`, // errors, logout
	} {
		if !strings.Contains(got, want) {
			t.Errorf("walkthrough output lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"code":"internal"`) {
		t.Errorf("a walkthrough command answered internal:\n%s", got)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "session.csv"))
	if err != nil || !strings.HasPrefix(string(csv), "question_id,") {
		t.Errorf("session.csv: %v %.200s", err, csv)
	}
}
