# syntax=docker/dockerfile:1
# Quizcast image: static binaries (server, with the migrations embedded,
# eventworker, and in the compose stage seed for the demo school) on
# distroless static, running as a non-root user. No secret is
# baked in: configuration comes from the environment at run time.
#
#   docker build -t quizcast:VERSION .                  # production image
#   docker build --target compose -t quizcast:dev .     # what docker-compose.yml runs
#
# The go build line is the Makefile's (CGO_ENABLED=0 + GO_BUILD_FLAGS);
# k8s/image_test.go fails when the two differ and compiles it.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/...

# docker-compose only: the same binaries plus busybox (/busybox/wget) for the
# compose health checks, which cannot use Kubernetes' HTTP probes.
FROM gcr.io/distroless/static-debian12:debug-nonroot AS compose
COPY --from=build /out/server /out/eventworker /out/seed /usr/local/bin/
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/server"]
CMD ["serve"]

# The production image (the default target: last stage). No shell, no
# package manager; user 65532 (nonroot).
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/server /out/eventworker /usr/local/bin/
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/server"]
CMD ["serve"]
