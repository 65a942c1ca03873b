# Quizcast: make run (the whole stack on this machine), make test (every
# test against real PostgreSQL, Redis and RabbitMQ), make bench.
SHELL := /bin/bash
GO_BUILD_FLAGS := -trimpath -ldflags='-s -w'

.PHONY: run stop test bench build fmt vet

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

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...
