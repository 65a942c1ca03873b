// Package web holds the files of the reference web client (§11 of the
// client contract): plain ES modules, CSS and a service worker under app/,
// with no build step. They are embedded into every server binary.
package web

import (
	"embed"
	"io/fs"
)

//go:embed app
var files embed.FS

// App is the client's file tree, rooted at app/ (index.html at its top).
func App() fs.FS {
	sub, err := fs.Sub(files, "app")
	if err != nil {
		panic(err) // the directory is embedded above; this cannot fail
	}
	return sub
}
