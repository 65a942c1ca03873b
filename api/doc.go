// Package api holds the machine-readable descriptions of Quizcast's
// interfaces: openapi.yaml (the REST API) and asyncapi.yaml (the WebSocket
// protocol of live sessions), embedded as OpenAPI and AsyncAPI so that
// internal/apicheck can hold every test's traffic to them. Its own tests
// check the descriptions against the code so that they cannot drift from it.
package api
