// Command loadgen is Quizcast's load generator and benchmark driver. It
// plays whole classrooms against server nodes through the public contract
// (REST and WebSocket, with internal/client) and measures what a school
// district would ask about. Every subcommand is bounded in count and time
// and refuses targets that are not on this machine (loopback only).
//
//	loadgen seed         bulk-inserts schools, users, classrooms, enrolments and quizzes (COPY) and writes a credentials file
//	loadgen run          N classrooms × S students + a teacher each, over several nodes: fan-out and answer figures
//	loadgen sweep        the pace sweep: the same rooms at one `next` every 10 s, 5 s, 3 s, 1 s, one table row per pace
//	loadgen connections  idle authenticated sockets on one node: RSS per socket, connect rate
//	loadgen pipeline     events through outbox → RabbitMQ → worker → events: rate and lag
//	loadgen broker       RabbitMQ CPU per message for the queue kinds and knobs of the pipeline
//	loadgen reports      10M answers seeded by COPY, materialized view refresh, report endpoint latency
//	loadgen table        prints the results of the above (JSON files) as one table
//
// Accounts are seeded straight into PostgreSQL with one bcrypt hash shared
// by every student, and access tokens are minted with the benchmark's own
// JWT_SECRET (internal/auth) instead of logging 10,000 users in through
// bcrypt: the benchmark owns the secret, and login is not what it measures.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/quizcast/quizcast/internal/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// LOADGEN_CPUPROFILE: the load generator's own profile, to see what
	// it takes from the cores it shares with the servers.
	if path := os.Getenv("LOADGEN_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if err := run(ctx, os.Args[1:]); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: loadgen seed|run|sweep|connections|pipeline|broker|reports|table [flags]")
	}
	cmds := map[string]func(context.Context, []string) error{
		"seed":        seedCmd,
		"run":         runCmd,
		"sweep":       sweepCmd,
		"connections": connectionsCmd,
		"pipeline":    pipelineCmd,
		"broker":      brokerCmd,
		"reports":     reportsCmd,
		"table":       tableCmd,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	return cmd(ctx, args[1:])
}

// loopback refuses any URL whose host is not this machine: the load
// generator must never be pointed at someone else's servers.
func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", raw, err)
	}
	host := u.Hostname()
	if host == "" && u.Scheme == "postgres" || host == "" && u.Scheme == "postgresql" {
		// A socket directory given as ?host=/path is local by nature.
		host = u.Query().Get("host")
		if strings.HasPrefix(host, "/") || host == "" {
			return nil
		}
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing %q: only loopback targets (127.0.0.0/8, ::1, localhost)", raw)
}

// nodeList parses -nodes and checks every URL.
func nodeList(s string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimRight(strings.TrimSpace(n), "/")
		if n == "" {
			continue
		}
		if err := loopback(n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("-nodes: at least one node URL")
	}
	return out, nil
}

// databaseURL returns DATABASE_URL, checked to be local.
func databaseURL() (string, error) {
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		return "", errors.New("DATABASE_URL is required")
	}
	return u, loopback(u)
}

// openDB opens a pool of conns to DATABASE_URL (loopback only).
func openDB(ctx context.Context, conns int32) (*pgxpool.Pool, error) {
	u, err := databaseURL()
	if err != nil {
		return nil, err
	}
	return postgres.Connect(ctx, u, conns)
}

// writeJSON writes v to path (or nowhere if path is empty).
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// bounded gives every subcommand a hard time limit.
func bounded(ctx context.Context, fs *flag.FlagSet) (context.Context, context.CancelFunc) {
	d := 10 * time.Minute
	if f := fs.Lookup("timeout"); f != nil {
		if v, err := time.ParseDuration(f.Value.String()); err == nil && v > 0 {
			d = v
		}
	}
	return context.WithTimeout(ctx, d)
}
