#!/usr/bin/env bash
# make test: private PostgreSQL, Redis and RabbitMQ on throw-away data
# directories, every Go test against them with the race detector, a short
# fuzz run, the API linters, then the services are stopped whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${TEST_BASEPORT:-25432}
dir=$(mktemp -d /tmp/quizcast-test.XXXXXX)
chmod 755 "$dir"
cleanup() {
  scripts/services.sh stop "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
WITH_BROWSER=1 scripts/services.sh start "$dir" "$base"
# shellcheck disable=SC1091
source "$dir/env"
export CI=${CI:-}
echo "== go vet"
go vet ./...
(cd k8s && go vet ./...)
echo "== API linters (Redocly, Spectral spectral:oas): zero errors"
scripts/lint-api.sh
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
echo "== go test ./k8s/... (manifests, image, compose: a module of its own)"
(cd k8s && go test -count=1 ./...)
echo "== browser tests (web client in Debian's chromium, e2e/)"
# axe-core, pinned by web/package-lock.json; installed only when missing
# or when the lock file changed.
if [ ! -f web/node_modules/.package-lock.json ] || ! cmp -s web/package-lock.json web/node_modules/.quizcast-lock; then
  (cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && cp package-lock.json node_modules/.quizcast-lock)
fi
(cd e2e && go vet ./... && go test -race -count=1 -timeout 15m ./...)
if [ -n "$(go list -f '{{if .TestGoFiles}}{{.ImportPath}}{{end}}' ./internal/httpapi 2>/dev/null)" ] &&
  grep -qs 'func FuzzDecodeQuiz' internal/httpapi/*_test.go; then
  echo "== fuzz (quiz body decoding, 40000 inputs)"
  go test -run '^$' -fuzz '^FuzzDecodeQuiz$' -fuzztime 40000x ./internal/httpapi
fi
# The hardening fuzz targets: the id parser, the cursor decoder, the
# WebSocket client frame decoding and the envelope every node decodes from
# Redis, a few seconds each on the 2-core machine. Budgets are counts of
# inputs, not durations: Go 1.26's fuzzing coordinator can report its own
# -fuzztime deadline as a failure ("context deadline exceeded", no input
# written; Go issue 75804, fixed in Go 1.27), and a count never sets
# that deadline.
for target in internal/quiz:FuzzParseID:400000 internal/quiz:FuzzDecodeCursor:300000 \
  internal/realtime:FuzzClientFrame:20000 internal/protocol:FuzzUnmarshalEnvelope:100000; do
  pkg=${target%%:*} rest=${target#*:}
  name=${rest%%:*} count=${rest##*:}
  if grep -qs "func $name" "$pkg"/*_test.go; then
    echo "== fuzz ($name, $count inputs)"
    go test -run '^$' -fuzz "^$name\$" -fuzztime "${count}x" "./$pkg"
  fi
done
