package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// corsMethods are the methods the REST API answers.
const corsMethods = "GET, POST, PUT, PATCH, DELETE"

// corsHeaders are the request headers a browser app may send.
const corsHeaders = "Authorization, Content-Type, X-Request-ID"

// cors lets browser apps of the ALLOWED_ORIGINS (the list that guards
// WebSocket handshakes) call the REST API from their own origin (§1): a
// preflight from such an origin answers 204 with that exact origin, the
// methods and headers; a request from it gets the origin and the exposed
// headers. Any other origin gets no CORS header at all, so the browser
// refuses it. Same-origin requests (the embedded client) need none.
func cors(allowed []string) gin.HandlerFunc {
	norm := make([]string, 0, len(allowed))
	for _, o := range allowed {
		norm = append(norm, strings.ToLower(strings.TrimRight(o, "/")))
	}
	return func(c *gin.Context) {
		if !strings.HasPrefix(c.Request.URL.Path, "/api/") {
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		if origin == "" || !originListed(norm, origin) {
			c.Next()
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
		c.Next()
	}
}

// originListed compares an Origin header with the list by scheme and host.
func originListed(list []string, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	return slices.Contains(list, strings.ToLower(u.Scheme+"://"+u.Host))
}
