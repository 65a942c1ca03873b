// Package webapp serves the embedded reference web client under /app/ with
// the headers a browser app needs: a strict Content-Security-Policy (no
// inline script or style, nothing from another origin), no sniffing, no
// framing, and caching that lets a new binary's files reach the browser.
package webapp

import (
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Prefix is where the client lives; "/" redirects here.
const Prefix = "/app/"

// Handler serves the files of fsys under Prefix.
type Handler struct {
	files http.Handler
	fsys  fs.FS
}

// New serves fsys (index.html at its root) under Prefix.
func New(fsys fs.FS) *Handler {
	return &Handler{files: http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(fsys)), fsys: fsys}
}

// ServeHTTP answers GET and HEAD for the client's files; anything else is
// the caller's (the router maps unknown paths to its 404).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", CSP(r.Host))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	// Revalidate every time: the files are small, and a node upgraded to a
	// new binary must not serve a mix of old and new modules.
	hdr.Set("Cache-Control", "no-cache")
	name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, Prefix)), "/")
	if name == "sw.js" {
		// The service worker controls the whole client.
		hdr.Set("Service-Worker-Allowed", Prefix)
	}
	h.files.ServeHTTP(w, r)
}

// Exists reports whether the client has a file at the URL path p (a
// directory counts when it has an index.html).
func (h *Handler) Exists(p string) bool {
	name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, Prefix)), "/")
	if name == "" {
		name = "index.html"
	}
	st, err := fs.Stat(h.fsys, name)
	if err != nil {
		return false
	}
	if st.IsDir() {
		_, err = fs.Stat(h.fsys, path.Join(name, "index.html"))
		return err == nil
	}
	return true
}

// CSP is the client's Content-Security-Policy: its own origin only, no
// inline script or style, and the WebSocket of the same host.
func CSP(host string) string {
	connect := "'self'"
	if validHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src " + connect + "; worker-src 'self'; manifest-src 'self'; object-src 'none'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// validHost keeps a Host header that could bend the policy (spaces,
// semicolons, quotes) out of it.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-:[]", r):
		default:
			return false
		}
	}
	return true
}
