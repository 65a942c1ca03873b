// Package chaos is the fault suite: its tests start real PostgreSQL, Redis
// and RabbitMQ (scripts/services.sh), two bin/server nodes and
// bin/eventworker as separate processes, run a live session of 30 students
// speaking the WebSocket protocol, inject one fault while questions are
// open and answers flow, and count what was lost from PostgreSQL and from
// every client's own log. `make chaos` runs every scenario (CHAOS=full) and
// prints the table; `make test` runs scenarios 1 and 4 in a short form.
// Scenario 8 runs node B on a build of the server whose wall clock the
// test steps (wallstep_test.go).
// docs/reliability.md maps each guarantee to its scenario.
package chaos
