package api

import _ "embed"

// OpenAPI is openapi.yaml, the REST API.
//
//go:embed openapi.yaml
var OpenAPI []byte

// AsyncAPI is asyncapi.yaml, the WebSocket protocol of live sessions.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte
