// Package migrations holds the numbered SQL migrations of the schema,
// embedded into the binaries and applied with goose.
package migrations

import "embed"

// FS holds every *.sql migration.
//
//go:embed *.sql
var FS embed.FS
