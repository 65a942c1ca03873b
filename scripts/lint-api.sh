#!/usr/bin/env bash
# Lints api/openapi.yaml with the pinned Redocly CLI and Spectral
# (ruleset spectral:oas) of tools/lint/package-lock.json: any error fails,
# warnings are printed. Node and npm come from Debian (apt-get install
# nodejs npm); the packages are installed with npm ci when missing or stale.
set -euo pipefail
cd "$(dirname "$0")/../tools/lint"
if ! command -v npm >/dev/null; then
  echo "lint-api: npm not found; install Debian's nodejs and npm (apt-get install -y nodejs npm)" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
echo "-- redocly lint"
npx --no-install redocly lint --format summary --config redocly.yaml ../../api/openapi.yaml
echo "-- spectral lint (spectral:oas)"
npx --no-install spectral lint --fail-severity error --ruleset .spectral.yaml ../../api/openapi.yaml
