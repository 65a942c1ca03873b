#!/usr/bin/env bash
# make run: PostgreSQL, Redis and RabbitMQ of our own under .run/,
# migrations, demo data, two server nodes (:8080, :8081) and the event
# worker. Ctrl-C or `make stop` stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir="$root/.run"
base=${RUN_BASEPORT:-15432}

stop_all() {
  # One stopper at a time (make stop and the foreground loop may race).
  exec 9>"$dir.stop.lock"
  flock 9
  if [ -d "$dir/pids" ]; then
    for f in "$dir"/pids/*.pid; do
      [ -f "$f" ] || continue
      pid=$(cat "$f")
      kill "$pid" 2>/dev/null || true
    done
    for f in "$dir"/pids/*.pid; do
      [ -f "$f" ] || continue
      pid=$(cat "$f")
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$f"
    done
  fi
  scripts/services.sh stop "$dir" || true
  flock -u 9
}

if [ "${1:-}" = stop ]; then
  stop_all
  echo "stopped"
  exit 0
fi

stop_all >/dev/null 2>&1 || true
mkdir -p "$dir/pids" "$dir/logs"
chmod 755 "$dir"
scripts/services.sh start "$dir" "$base"
# shellcheck disable=SC1091
source "$dir/env"
# A random signing secret made once per checkout and kept in .run/ (never
# in git): no token signed with a published secret works here.
if [ -z "${JWT_SECRET:-}" ]; then
  if [ ! -s "$dir/jwt_secret" ]; then
    (mkdir -p "$dir" && umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$dir/jwt_secret")
  fi
  JWT_SECRET=$(cat "$dir/jwt_secret")
fi
export JWT_SECRET
# The nodes listen on this machine only unless RUN_BIND says otherwise
# (RUN_BIND=0.0.0.0 to reach them from other devices).
bind=${RUN_BIND:-127.0.0.1}
export ALLOWED_ORIGINS=${ALLOWED_ORIGINS:-http://localhost:3000,http://localhost:8080}

bin/server migrate >>"$dir/logs/migrate.log" 2>&1 || { cat "$dir/logs/migrate.log" >&2; exit 1; }
if [ -x bin/seed ]; then
  bin/seed demo >"$dir/demo.txt"
fi

start() { # name, command...
  local name=$1; shift
  "$@" >>"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name.pid"
}
HTTP_ADDR=$bind:8080 METRICS_ADDR=127.0.0.1:9100 NODE_ID=node-a start server-a bin/server
HTTP_ADDR=$bind:8081 METRICS_ADDR=127.0.0.1:9101 NODE_ID=node-b start server-b bin/server
WORKER_HTTP_ADDR=127.0.0.1:9090 start eventworker bin/eventworker

for port in 8080 8081; do
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

cat <<EOT

Quizcast is running. Open the web client (teacher and student screens):
  http://localhost:8080/app/          (node B: http://localhost:8081/app/)
EOT
if [ -f "$dir/demo.txt" ]; then
  echo "Demo logins (a teacher window and a student window, e.g. one private):"
  sed 's/^/  /' "$dir/demo.txt"
fi
cat <<EOT

  node A      http://localhost:8080   (API under /api/v1, WebSocket /api/v1/sessions/{id}/ws)
  node B      http://localhost:8081
  readiness   http://localhost:8080/readyz     metrics  http://127.0.0.1:9100/metrics, :9101 (node B)
  worker      http://localhost:9090/metrics
  logs        $dir/logs/
  PostgreSQL  $DATABASE_URL
  Redis       $REDIS_URL
  RabbitMQ    $RABBITMQ_URL
EOT
[ -f "$dir/demo.txt" ] && echo "  demo logins also in $dir/demo.txt"
echo
echo "Ctrl-C here (or 'make stop' elsewhere) stops everything."

trap 'echo; stop_all; echo stopped; exit 0' INT TERM
# Stay in the foreground while the nodes live.
while true; do
  alive=0 tracked=0
  for f in "$dir"/pids/*.pid; do
    [ -f "$f" ] || continue
    tracked=1
    kill -0 "$(cat "$f")" 2>/dev/null && alive=1
  done
  [ $tracked = 1 ] || { echo "stopped by make stop"; exit 0; }
  [ $alive = 1 ] || { echo "all processes exited; see $dir/logs"; stop_all; exit 1; }
  sleep 1
done
