package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/quizcast/quizcast/internal/health"
	"github.com/quizcast/quizcast/internal/httpapi"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/webapp"
	"github.com/quizcast/quizcast/web"
)

// bareRouter is the router without services: enough for CORS and the
// embedded client, which never reach a store.
func bareRouter(t *testing.T) http.Handler {
	t.Helper()
	r, err := httpapi.New(httpapi.Config{AllowedOrigins: []string{"https://whiteboard.example.org", "http://localhost:3000/"}},
		httpapi.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: metrics.NewRegistry(), Health: health.New(nil), Web: webapp.New(web.App())})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func serve(h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestCORS(t *testing.T) {
	h := bareRouter(t)
	corsHeaders := []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Expose-Headers", "Access-Control-Max-Age"}
	t.Run("preflight from an allowed origin", func(t *testing.T) {
		for _, origin := range []string{"https://whiteboard.example.org", "http://localhost:3000"} {
			w := serve(h, http.MethodOptions, "/api/v1/auth/login", map[string]string{
				"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type",
			})
			if w.Code != http.StatusNoContent {
				t.Fatalf("%s: status %d", origin, w.Code)
			}
			got := w.Header()
			if got.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("allow-origin %q, want %q", got.Get("Access-Control-Allow-Origin"), origin)
			}
			if !strings.Contains(got.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(got.Get("Access-Control-Allow-Methods"), "DELETE") {
				t.Errorf("allow-methods %q", got.Get("Access-Control-Allow-Methods"))
			}
			for _, hd := range []string{"Authorization", "Content-Type"} {
				if !strings.Contains(got.Get("Access-Control-Allow-Headers"), hd) {
					t.Errorf("allow-headers %q lacks %s", got.Get("Access-Control-Allow-Headers"), hd)
				}
			}
			if !strings.Contains(strings.Join(got.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q", got.Values("Vary"))
			}
		}
	})
	t.Run("preflight of a path with parameters", func(t *testing.T) {
		w := serve(h, http.MethodOptions, "/api/v1/sessions/0b7f7d3c-0000-4000-8000-000000000000/participants/x", map[string]string{
			"Origin": "https://whiteboard.example.org", "Access-Control-Request-Method": "DELETE",
		})
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") == "" {
			t.Fatalf("status %d, headers %v", w.Code, w.Header())
		}
	})
	t.Run("other origins get no CORS header", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example.com", "https://whiteboard.example.org.evil.com", "null", "http://whiteboard.example.org"} {
			w := serve(h, http.MethodOptions, "/api/v1/auth/login", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
			for _, hd := range corsHeaders {
				if v := w.Header().Get(hd); v != "" {
					t.Errorf("%s: %s = %q", origin, hd, v)
				}
			}
			if w.Code < 400 {
				t.Errorf("%s: preflight answered %d", origin, w.Code)
			}
		}
	})
	t.Run("actual request exposes the headers", func(t *testing.T) {
		w := serve(h, http.MethodGet, "/api/v1/me", map[string]string{"Origin": "https://whiteboard.example.org"})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "https://whiteboard.example.org" {
			t.Errorf("allow-origin %q", w.Header().Get("Access-Control-Allow-Origin"))
		}
		exp := w.Header().Get("Access-Control-Expose-Headers")
		if !strings.Contains(exp, "X-Request-ID") || !strings.Contains(exp, "Retry-After") {
			t.Errorf("expose-headers %q", exp)
		}
	})
	t.Run("no CORS outside the API", func(t *testing.T) {
		w := serve(h, http.MethodGet, "/app/", map[string]string{"Origin": "https://whiteboard.example.org"})
		if v := w.Header().Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("the web client answered CORS: %q", v)
		}
	})
}

func TestWebClientIsServed(t *testing.T) {
	h := bareRouter(t)
	for _, p := range []string{"/", "/app"} {
		w := serve(h, http.MethodGet, p, nil)
		if w.Code != http.StatusFound || w.Header().Get("Location") != "/app/" {
			t.Errorf("GET %s: %d to %q, want 302 to /app/", p, w.Code, w.Header().Get("Location"))
		}
	}
	files := map[string]string{"/app/": "text/html", "/app/js/main.js": "javascript", "/app/app.css": "text/css", "/app/sw.js": "javascript"}
	for p, ctype := range files {
		req := httptest.NewRequest(http.MethodGet, p, nil)
		req.Host = "school.example.org:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q", p, w.Code, w.Header().Get("Content-Type"))
		}
		csp := w.Header().Get("Content-Security-Policy")
		for _, part := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws://school.example.org:8080 wss://school.example.org:8080", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, part) {
				t.Errorf("GET %s: CSP %q lacks %q", p, csp, part)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP allows unsafe: %q", p, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", p)
		}
	}
	// The app shell has no inline script or style for the CSP to refuse.
	body := serve(h, http.MethodGet, "/app/", nil).Body.String()
	if inline := regexp.MustCompile(`<style|\sstyle=|<script>|<script\s+type="module">|\son[a-z]+=`); inline.MatchString(body) {
		t.Errorf("inline script or style in index.html: %q", inline.FindString(body))
	}

	t.Run("missing files answer the contract's 404", func(t *testing.T) {
		for _, p := range []string{"/app/nope.js", "/app/../go.mod", "/app/js/"} {
			w := serve(h, http.MethodGet, p, nil)
			if w.Code != http.StatusNotFound {
				t.Errorf("GET %s: %d", p, w.Code)
				continue
			}
			var e httpapi.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != "not_found" {
				t.Errorf("GET %s: body %s", p, w.Body)
			}
		}
	})
	t.Run("a hostile Host header stays out of the policy", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/app/", nil)
		req.Host = "x; script-src *"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "script-src *") {
			t.Errorf("CSP %q", csp)
		}
	})
}
