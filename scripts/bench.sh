#!/usr/bin/env bash
# make bench: private PostgreSQL, Redis and RabbitMQ on throw-away data
# directories, migrations, two server nodes and the event worker, bulk
# seeding, then the scenarios of docs/benchmarks.md and the Go
# microbenchmarks; prints one table and stops everything whatever happens.
# The results (JSON, the table, node logs, heap profile) are kept in .bench/.
#
# Knobs (environment): BENCH_BASEPORT (28432: services), BENCH_HTTP_PORT
# (18080: node A; B, worker and pprof listeners follow), BENCH_SCENARIOS
# ("connections sweep pipeline reports"; "run" is the older fixed-interval
# scenario), BENCH_ROOMS or BENCH_CLASSROOMS (334), BENCH_PACES
# ("10s/quiet,10s,5s,3s,1s": the sweep's paces, /quiet = no answers),
# BENCH_PACE_QUESTIONS (6 per pace), BENCH_QUESTIONS (20, run only),
# BENCH_SOCKETS (one node's sockets; default the file-descriptor limit minus
# headroom, at most 20000), BENCH_EVENT_RATE (20000), BENCH_ANSWERS
# (10000000), BENCH_MICRO (1 = run them), BENCH_NODE_GOMAXPROCS (1: each
# node's Go threads; 0 = Go's default, every core), BENCH_SWEEP_HISTORY (0:
# answers of ended sessions, with their events, seeded before the sweep so
# its tables are those of a database in use; see docs/benchmarks.md).
# Quick check of the sweep alone:
#   BENCH_SCENARIOS=sweep BENCH_ROOMS=40 BENCH_PACES=5s,2s BENCH_MICRO=0 make bench
# BENCH_ONLY=pipeline: seed and run only the pipeline scenario, with one and
# then two nodes relaying (the same as BENCH_SCENARIOS=pipeline BENCH_MICRO=0).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
base=${BENCH_BASEPORT:-28432}
port_a=${BENCH_HTTP_PORT:-18080}
port_b=$((port_a + 1))
port_w=$((port_a + 10))
debug_a=$((port_a + 11))
debug_b=$((port_a + 12))
metrics_a=$((port_a + 13))
metrics_b=$((port_a + 14))
dir=$(mktemp -d /tmp/quizcast-bench.XXXXXX)
chmod 755 "$dir"
out="$root/.bench"
rm -rf "$out"
mkdir -p "$out"
started=$(date +%s)
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  cp "$dir"/logs/*.log "$out/" 2>/dev/null || true
  scripts/services.sh stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n[bench %3ds] %s\n' $(($(date +%s) - started)) "$*"; }

# Every socket is a file descriptor on both ends (the sweep: 10,354 in the
# load generator, about half of them in each node): take the hard limit.
ulimit -n "$(ulimit -Hn)"
fdlimit=$(ulimit -n)
sockets=${BENCH_SOCKETS:-$((fdlimit > 20100 ? 20000 : fdlimit - 100))}

step "services on ports $base-$((base + 3))"
scripts/services.sh start "$dir" "$base"
# shellcheck disable=SC1091
source "$dir/env"
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export JWT_SECRET
export ALLOWED_ORIGINS=http://localhost:3000
# Every simulated client comes from 127.0.0.1: the per-address handshake
# limit that guards a real deployment would refuse the fleet.
export RATE_WS_HANDSHAKES_PER_IP=${RATE_WS_HANDSHAKES_PER_IP:-1000000}
bin/server migrate >/dev/null
# BENCH_PG_SETTINGS ("name=value,…", default none): PostgreSQL settings for
# an experiment, applied with ALTER SYSTEM before the nodes start. E.g.
# synchronous_commit=off shows what waiting for the WAL's fsync costs the
# live path's latency (docs/benchmarks.md, "Sixth round"); it is never a
# deployment setting: an answer is acknowledged once it is on disk.
if [ -n "${BENCH_PG_SETTINGS:-}" ]; then
  IFS=, read -ra settings <<<"$BENCH_PG_SETTINGS"
  for setting in "${settings[@]}"; do
    psql "$DATABASE_URL" -qc "ALTER SYSTEM SET ${setting%%=*} = '${setting#*=}'"
  done
  psql "$DATABASE_URL" -qAtc "SELECT pg_reload_conf()" >/dev/null
  step "PostgreSQL settings for this run: $BENCH_PG_SETTINGS"
fi

mkdir -p "$dir/logs"
start() { # name, command...
  local name=$1
  shift
  "$@" >>"$dir/logs/$name.log" 2>&1 &
  pids+=($!)
}
# Each node runs Go code on one core's worth of threads (GOMAXPROCS), its
# share of this machine: the two nodes share its two cores with PostgreSQL,
# Redis, RabbitMQ, the worker and the load generator, as a node in a
# container gets its CPU limit (Go reads it). Measured against every core
# (docs/benchmarks.md, "Fifth round"): 7–15 % less node CPU per unit of
# work and a shorter tail at the 10 s and 5 s paces.
node_procs=${BENCH_NODE_GOMAXPROCS:-1}
GOMAXPROCS=$node_procs HTTP_ADDR=127.0.0.1:$port_a NODE_ID=bench-a DEBUG_ADDR=127.0.0.1:$debug_a METRICS_ADDR=127.0.0.1:$metrics_a start server-a bin/server
pid_a=${pids[-1]}
GOMAXPROCS=$node_procs HTTP_ADDR=127.0.0.1:$port_b NODE_ID=bench-b DEBUG_ADDR=127.0.0.1:$debug_b METRICS_ADDR=127.0.0.1:$metrics_b start server-b bin/server
pid_b=${pids[-1]}
WORKER_HTTP_ADDR=127.0.0.1:$port_w start eventworker bin/eventworker
pid_w=${pids[-1]}
for port in $port_a $port_b $port_w; do
  for _ in $(seq 150); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "node on :$port never became ready; see $out"; exit 1; }
done
node_a=http://127.0.0.1:$port_a
node_b=http://127.0.0.1:$port_b

# settle waits until the previous scenario's sockets are gone from both
# nodes and the outbox has drained (closing 20,000 sockets records 20,000
# student_left events), so one scenario's tail does not land in the next.
settle() {
  local open left
  for _ in $(seq 360); do
    open=0
    for port in $metrics_a $metrics_b; do
      n=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^quizcast_ws_connections /{print int($2)}')
      open=$((open + ${n:-0}))
    done
    left=$(psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM outbox' 2>/dev/null || echo 0)
    if [ "$open" = 0 ] && [ "$left" = 0 ]; then return 0; fi
    sleep 0.5
  done
  echo "(not settled after 180 s: $open sockets open, $left outbox rows)"
}

# A node that starts gets its share of the outbox's partitions within a few
# lease renewals (about 3 s each): wait until the two nodes hold 8 each.
leases_settled() {
  local a b
  for _ in $(seq 60); do
    a=$(curl -fsS "http://127.0.0.1:$metrics_a/metrics" 2>/dev/null | awk '/^quizcast_outbox_partitions_leased /{print int($2)}')
    b=$(curl -fsS "http://127.0.0.1:$metrics_b/metrics" 2>/dev/null | awk '/^quizcast_outbox_partitions_leased /{print int($2)}')
    if [ "${a:-0}" = 8 ] && [ "${b:-0}" = 8 ]; then return 0; fi
    sleep 0.5
  done
  echo "(outbox leases not settled after 30 s: node A holds ${a:-?}, node B ${b:-?})"
}

scenarios=" ${BENCH_SCENARIOS:-connections sweep pipeline reports} "
if [ "${BENCH_ONLY:-}" = pipeline ]; then
  scenarios=" pipeline "
  BENCH_MICRO=${BENCH_MICRO:-0}
fi
want() { [[ $scenarios == *" $1 "* ]]; }
classrooms=${BENCH_ROOMS:-${BENCH_CLASSROOMS:-334}}
paces=${BENCH_PACES:-10s/quiet,10s,5s,3s,1s}
pace_questions=${BENCH_PACE_QUESTIONS:-6}
per_room=30
seed_rooms=$classrooms
if want connections; then
  seed_rooms=$(((sockets + per_room - 1) / per_room))
  seed_rooms=$((seed_rooms > classrooms ? seed_rooms : classrooms))
fi
[ "$scenarios" = " pipeline " ] && seed_rooms=1 # the pipeline needs one school
# The sweep plays every pace in the same sessions: questions for all.
npaces=$(tr ',' '\n' <<<"$paces" | grep -c .)
questions=$((npaces * pace_questions > 40 ? npaces * pace_questions : 40))
step "seeding $seed_rooms classrooms × $per_room students, $questions questions each (COPY)"
bin/loadgen seed -classrooms "$seed_rooms" -students $per_room -questions "$questions" -out "$dir/credentials.json"

if want connections; then
  step "connections: $sockets idle sockets on node A (fd limit $fdlimit)"
  bin/loadgen connections -creds "$dir/credentials.json" -node "$node_a" -pid "$pid_a" \
    -debug "http://127.0.0.1:$debug_a" -metrics "http://127.0.0.1:$metrics_a" -heap-out "$out/heap-connections.pb.gz" \
    -sockets "$sockets" -json "$out/connections.json" || echo "connections scenario failed"
  settle
fi

if want sweep; then
  step "pace sweep: $classrooms rooms × $per_room students over 2 nodes, paces $paces, $pace_questions questions each"
  bin/loadgen sweep -creds "$dir/credentials.json" -nodes "$node_a,$node_b" -pids "$pid_a,$pid_b" -history "${BENCH_SWEEP_HISTORY:-0}" \
    -classrooms "$classrooms" -students $per_room -paces "$paces" -questions "$pace_questions" \
    -metrics "http://127.0.0.1:$metrics_a,http://127.0.0.1:$metrics_b" \
    -disk-probe "$dir" -json "$out/sweep.json" -md "$out/sweep.md" -pg-profile "$out" || echo "sweep scenario failed"
  settle
fi

if want run; then
  step "fan-out + answers: $classrooms classrooms × $per_room students over 2 nodes"
  bin/loadgen run -creds "$dir/credentials.json" -nodes "$node_a,$node_b" -pids "$pid_a,$pid_b" \
    -classrooms "$classrooms" -students $per_room -questions "${BENCH_QUESTIONS:-20}" -answer-from 5 \
    -interval 1s -json "$out/run.json" || echo "run scenario failed"
  settle
fi

# The pipeline with node B stopped (one node's relays; B releases its
# partition leases as it stops), then with both: each node's relays drain
# the partitions it leases.
if want pipeline; then
  step "pipeline, one node relaying: ${BENCH_EVENT_RATE:-20000} events/s for 10 s"
  kill "$pid_b"
  for _ in $(seq 300); do kill -0 "$pid_b" 2>/dev/null || break; sleep 0.1; done
  bin/loadgen pipeline -creds "$dir/credentials.json" -rate "${BENCH_EVENT_RATE:-20000}" -duration 10s \
    -cpu "server-a=$pid_a,worker=$pid_w,rabbitmq=$(cat "$dir/rabbit/rabbit.pid")" -pg-profile "$out/pipeline-1node-pg.txt" \
    -json "$out/pipeline-1node.json" || echo "pipeline scenario (one node) failed"
  GOMAXPROCS=$node_procs HTTP_ADDR=127.0.0.1:$port_b NODE_ID=bench-b DEBUG_ADDR=127.0.0.1:$debug_b METRICS_ADDR=127.0.0.1:$metrics_b start server-b bin/server
  pid_b=${pids[-1]}
  for _ in $(seq 150); do curl -fsS "$node_b/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  settle
  leases_settled

  step "pipeline, two nodes relaying: ${BENCH_EVENT_RATE:-20000} events/s for 10 s"
  bin/loadgen pipeline -creds "$dir/credentials.json" -rate "${BENCH_EVENT_RATE:-20000}" -duration 10s \
    -cpu "server-a=$pid_a,server-b=$pid_b,worker=$pid_w,rabbitmq=$(cat "$dir/rabbit/rabbit.pid")" -pg-profile "$out/pipeline-pg.txt" \
    -json "$out/pipeline.json" || echo "pipeline scenario failed"
fi

if [ "${BENCH_MICRO:-1}" = 1 ]; then
  step "microbenchmarks"
  go test -run '^$' -bench 'HubFanout|EncodeQuestionOpened|UnmarshalAnswer|AnswerWriter|Command|Relay|EventStore' \
    -benchmem -benchtime 1s -timeout 5m \
    ./internal/realtime/ ./internal/protocol/ ./internal/postgres/ ./internal/outbox/ >"$out/micro.txt" 2>&1 ||
    echo "microbenchmarks failed (see $out/micro.txt)"
  grep -E '^(ok|FAIL|---)' "$out/micro.txt" || true
fi

if want reports; then
  step "reports: ${BENCH_ANSWERS:-10000000} answers by COPY, view refresh, endpoints"
  bin/loadgen reports -creds "$dir/credentials.json" -node "$node_a" -answers "${BENCH_ANSWERS:-10000000}" \
    -json "$out/reports.json" || echo "reports scenario failed"
fi

step "done in $(($(date +%s) - started)) s"
echo
bin/loadgen table -dir "$out" | tee "$out/table.txt"
