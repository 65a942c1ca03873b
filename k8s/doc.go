// Package k8s holds no code of the running system: it is the home of the
// Kubernetes manifests (base/, overlays/, datastores/, monitoring/) and of
// the tests that validate them, the container image's Dockerfile and the
// docker-compose.yml without a cluster or a Docker engine. The manifests are
// decoded strictly into the typed Kubernetes API objects (an unknown field
// fails), kustomize builds run through the kustomize Go API, and the checks
// hold the points docs/deployment.md relies on: probes, resources, security
// context, replicas, a grace period that covers the WebSocket drain, pinned
// image tags.
package k8s
