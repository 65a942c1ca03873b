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
  echo "== fuzz (quiz body decoding, 20s)"
  go test -run '^$' -fuzz '^FuzzDecodeQuiz$' -fuzztime 20s ./internal/httpapi
fi
# The hardening fuzz targets: the id parser, the cursor decoder, the
# WebSocket client frame decoding and the envelope every node decodes from
# Redis, 8 s each.
for target in internal/quiz:FuzzParseID internal/quiz:FuzzDecodeCursor internal/realtime:FuzzClientFrame \
  internal/protocol:FuzzUnmarshalEnvelope; do
  pkg=${target%%:*} name=${target##*:}
  if grep -qs "func $name" "$pkg"/*_test.go; then
    echo "== fuzz ($name, 8s)"
    go test -run '^$' -fuzz "^$name\$" -fuzztime 8s "./$pkg"
  fi
done
