# Quizcast: make run (the whole stack on this machine), make test (every
# test against real PostgreSQL, Redis and RabbitMQ), make bench, make chaos.
SHELL := /bin/bash
GO_BUILD_FLAGS := -trimpath -ldflags='-s -w'

.PHONY: run stop test bench chaos build fmt vet

build:
	CGO_ENABLED=0 go build $(GO_BUILD_FLAGS) -o bin/ ./cmd/...

run: build
	scripts/run.sh

stop:
	scripts/run.sh stop

test:
	scripts/test.sh

bench: build
	scripts/bench.sh

# Every fault scenario of docs/reliability.md against real processes, then
# the table of what each lost (CHAOS_BASEPORT moves the services it starts).
chaos:
	mkdir -p .chaos
	CHAOS=full CHAOS_TABLE=$(CURDIR)/.chaos/table.txt CHAOS_LOGS=$(CURDIR)/.chaos/logs go test -count=1 -timeout 40m ./internal/chaos/ ; \
	  status=$$?; cat .chaos/table.txt 2>/dev/null; exit $$status

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...
