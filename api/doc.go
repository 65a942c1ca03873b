// Package api holds the machine-readable descriptions of Quizcast's
// interfaces: openapi.yaml (the REST API) and asyncapi.yaml (the WebSocket
// protocol of live sessions). It has no code of its own; its tests check
// the descriptions against the code so that they cannot drift from it.
package api
