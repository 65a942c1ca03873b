#!/usr/bin/env bash
# Private PostgreSQL, Redis and RabbitMQ instances for make run / test / bench.
#
#   scripts/services.sh install            apt-get the missing Debian packages
#                                          (WITH_BROWSER=1: also chromium and npm,
#                                          for the browser tests)
#   scripts/services.sh start DIR BASEPORT starts all three under DIR
#   scripts/services.sh stop DIR           stops what start started
#   scripts/services.sh stop-redis DIR     (tests) stop / start Redis alone
#   scripts/services.sh start-redis DIR
#   scripts/services.sh stop-pg DIR        (tests) stop / start PostgreSQL alone
#   scripts/services.sh start-pg DIR
#   scripts/services.sh stop-rabbit DIR    (tests) stop / start RabbitMQ alone
#   scripts/services.sh start-rabbit DIR
#
# Ports: PostgreSQL BASEPORT, Redis BASEPORT+1, RabbitMQ BASEPORT+2 and its
# distribution port BASEPORT+3. Start writes DIR/env with the URLs to source.
# These never touch the machine's system services.
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}

log() { printf '[services] %s\n' "$*" >&2; }

install() {
  local missing=()
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
  # The API linters (scripts/lint-api.sh) and the walkthrough test (docs/).
  command -v npm >/dev/null || missing+=(nodejs npm)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  # The web client's browser tests (make test sets WITH_BROWSER=1):
  # Debian's chromium, and npm for the pinned axe-core.
  if [ "${WITH_BROWSER:-}" = 1 ]; then
    command -v chromium >/dev/null || missing+=(chromium)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing: ${missing[*]}. Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The packages start their system services; policy-rc.d keeps them down.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

as_user() { # run a command as USER when we are root (postgres, rabbitmq refuse root)
  local user=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

own() { # chown DIR to USER when root
  if [ "$(id -u)" = 0 ]; then chown -R "$1" "$2"; fi
}

start_pg() {
  local dir=$1 port=$2
  mkdir -p "$dir/pg"
  own postgres "$dir/pg"
  if [ ! -f "$dir/pg/data/PG_VERSION" ]; then
    as_user postgres "$PG_BIN/initdb" -D "$dir/pg/data" -U postgres --auth=trust -E UTF8 >"$dir/pg/initdb.log" 2>&1
    cat >>"$dir/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/pg'
max_connections = 300
shared_buffers = 256MB
synchronous_commit = on
fsync = on
log_min_messages = warning
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
autovacuum_naptime = 5s
EOF
  fi
  as_user postgres "$PG_BIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 start >/dev/null
  log "postgresql on 127.0.0.1:$port"
}

start_redis() {
  local dir=$1 port=$2
  mkdir -p "$dir/redis"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis" --save "" --appendonly yes \
    --daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" --maxclients 50000
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  log "redis on 127.0.0.1:$port"
}

rabbit_env() {
  local dir=$1 port=$2 dist=$3
  export RABBITMQ_NODENAME="qc$port@localhost"
  export RABBITMQ_MNESIA_BASE="$dir/rabbit/mnesia"
  export RABBITMQ_LOG_BASE="$dir/rabbit/log"
  export RABBITMQ_PID_FILE="$dir/rabbit/rabbit.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbit/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$dir/rabbit/rabbitmq"
  export RABBITMQ_DIST_PORT="$dist"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbit/rabbitmq-env.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/rabbit/advanced.config"
  export HOME="$dir/rabbit"
}

start_rabbit() {
  local dir=$1 port=$2 dist=$3
  mkdir -p "$dir/rabbit/mnesia" "$dir/rabbit/log"
  cat >"$dir/rabbit/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$port
loopback_users = none
log.console = false
log.file.level = warning
disk_free_limit.absolute = 50MB
EOF
  echo '[].' >"$dir/rabbit/enabled_plugins"
  : >"$dir/rabbit/rabbitmq-env.conf"
  echo '[].' >"$dir/rabbit/advanced.config"
  # rabbitmqctl and the server must share the Erlang cookie.
  if [ "$(id -u)" = 0 ] && [ -f /var/lib/rabbitmq/.erlang.cookie ]; then
    cp /var/lib/rabbitmq/.erlang.cookie "$dir/rabbit/.erlang.cookie"
  fi
  own rabbitmq "$dir/rabbit"
  rabbit_env "$dir" "$port" "$dist"
  (as_user rabbitmq env HOME="$dir/rabbit" rabbitmq-server >"$dir/rabbit/log/stdout.log" 2>&1 &)
  if ! as_user rabbitmq env HOME="$dir/rabbit" rabbitmqctl -q -n "$RABBITMQ_NODENAME" wait --timeout 120 "$RABBITMQ_PID_FILE" >/dev/null 2>&1; then
    log "rabbitmq did not start; see $dir/rabbit/log"
    tail -20 "$dir/rabbit/log/stdout.log" >&2 || true
    exit 1
  fi
  log "rabbitmq on 127.0.0.1:$port"
}

stop_pg() {
  local dir=$1
  [ -f "$dir/pg/data/postmaster.pid" ] || return 0
  as_user postgres "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

stop_redis() {
  local dir=$1
  [ -f "$dir/redis/redis.pid" ] || return 0
  local pid; pid=$(cat "$dir/redis/redis.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/redis/redis.pid"
}

stop_rabbit() {
  local dir=$1 port=$2 dist=$3
  [ -f "$dir/rabbit/rabbit.pid" ] || return 0
  rabbit_env "$dir" "$port" "$dist"
  # Bounded: rabbitmqctl waits for a node that may already be gone.
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u rabbitmq --)
  timeout 60 "${as[@]}" env HOME="$dir/rabbit" rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true
  local pid; pid=$(cat "$dir/rabbit/rabbit.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/rabbit/rabbit.pid"
}

ports() { # DIR -> BASEPORT saved at start
  cat "$1/baseport"
}

cmd=${1:-}; shift || true
case "$cmd" in
  install) install ;;
  start)
    dir=$(mkdir -p "$1" && cd "$1" && pwd); base=$2
    install
    echo "$base" >"$dir/baseport"
    start_pg "$dir" "$base"
    start_redis "$dir" $((base + 1))
    start_rabbit "$dir" $((base + 2)) $((base + 3))
    # A database for the apps; tests create their own next to it.
    psql -h 127.0.0.1 -p "$base" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='quizcast'" | grep -q 1 ||
      psql -h 127.0.0.1 -p "$base" -U postgres -qc "CREATE DATABASE quizcast" >/dev/null
    cat >"$dir/env" <<EOF
export DATABASE_URL='postgres://postgres@127.0.0.1:$base/quizcast?sslmode=disable'
export REDIS_URL='redis://127.0.0.1:$((base + 1))/0'
export RABBITMQ_URL='amqp://guest:guest@127.0.0.1:$((base + 2))/'
export QUIZCAST_SERVICES_DIR='$dir'
EOF
    ;;
  stop)
    dir=$1; [ -d "$dir" ] || exit 0; dir=$(cd "$dir" && pwd)
    [ -f "$dir/baseport" ] || exit 0
    base=$(ports "$dir")
    stop_rabbit "$dir" $((base + 2)) $((base + 3))
    stop_redis "$dir"
    stop_pg "$dir"
    ;;
  stop-pg) stop_pg "$(cd "$1" && pwd)" ;;
  start-pg) dir=$(cd "$1" && pwd); start_pg "$dir" "$(ports "$dir")" ;;
  stop-redis) stop_redis "$1" ;;
  start-redis) dir=$(cd "$1" && pwd); start_redis "$dir" $(($(ports "$dir") + 1)) ;;
  stop-rabbit) dir=$(cd "$1" && pwd); base=$(ports "$dir"); stop_rabbit "$dir" $((base + 2)) $((base + 3)) ;;
  start-rabbit) dir=$(cd "$1" && pwd); base=$(ports "$dir"); start_rabbit "$dir" $((base + 2)) $((base + 3)) ;;
  *) echo "usage: $0 install|start DIR BASEPORT|stop DIR|stop-pg DIR|start-pg DIR|stop-redis DIR|start-redis DIR|stop-rabbit DIR|start-rabbit DIR" >&2; exit 2 ;;
esac
