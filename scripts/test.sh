#!/usr/bin/env bash
# make test: private PostgreSQL, Redis and RabbitMQ on throw-away data
# directories, every Go test against them with the race detector, a short
# fuzz run, then the services are stopped whatever the outcome.
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
scripts/services.sh start "$dir" "$base"
# shellcheck disable=SC1091
source "$dir/env"
export CI=${CI:-}
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
if [ -n "$(go list -f '{{if .TestGoFiles}}{{.ImportPath}}{{end}}' ./internal/httpapi 2>/dev/null)" ] &&
  grep -qs 'func FuzzDecodeQuiz' internal/httpapi/*_test.go; then
  echo "== fuzz (quiz body decoding, 20s)"
  go test -run '^$' -fuzz '^FuzzDecodeQuiz$' -fuzztime 20s ./internal/httpapi
fi
# The hardening fuzz targets: the id parser, the cursor decoder and the
# WebSocket client frame decoding, 8 s each.
for target in internal/quiz:FuzzParseID internal/quiz:FuzzDecodeCursor internal/realtime:FuzzClientFrame; do
  pkg=${target%%:*} name=${target##*:}
  if grep -qs "func $name" "$pkg"/*_test.go; then
    echo "== fuzz ($name, 8s)"
    go test -run '^$' -fuzz "^$name\$" -fuzztime 8s "./$pkg"
  fi
done
