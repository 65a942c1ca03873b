package httpapi

import (
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/quiz"
)

// apiCSP is the Content-Security-Policy of API answers: JSON and CSV are
// never documents, so they may load nothing and be framed by no one.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders sets the headers every answer carries. They are set
// before the handler runs, so a handler that serves a document (the web
// client under /app/) replaces the Content-Security-Policy with its own.
// Answers of the API are never cached: they hold tokens and personal data.
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", apiCSP)
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		c.Next()
	}
}

// errUnsupportedMediaType answers a body that is not application/json.
var errUnsupportedMediaType = &quiz.Error{Code: quiz.CodeUnsupportedMediaType,
	Message: "the request body must be Content-Type: application/json"}

// BodyTypes maps a route ("POST /api/v1/classrooms/:id/students/import")
// to the media type its body must have when it is not application/json.
// A route opts out of JSON by having an entry here.
type BodyTypes map[string]string

// contentType refuses (415) a request whose body is not of its route's
// media type (application/json unless types says otherwise): a body that
// is not empty must declare its type, compared case-insensitively with
// parameters such as charset allowed, and a declared type must be the
// route's even on an empty body. A request with neither a body nor a
// Content-Type passes: endpoints whose body is optional (logout, session
// commands) take it, and bind refuses it where a body is required.
// bodyTypes adds the routes of this package whose body is not JSON (the
// CSV roster import of §10) to extra.
func bodyTypes(extra BodyTypes) BodyTypes {
	types := BodyTypes{"POST /api/v1/classrooms/:id/students/import": "text/csv"}
	for route, t := range extra {
		types[route] = t
	}
	return types
}

func contentType(types BodyTypes) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		if c.FullPath() == "" { // no route: 404 or 405 answers it
			c.Next()
			return
		}
		want := "application/json"
		if t, ok := types[c.Request.Method+" "+c.FullPath()]; ok {
			want = t
		}
		ct := c.GetHeader("Content-Type")
		hasBody := c.Request.ContentLength != 0 && c.Request.Body != nil && c.Request.Body != http.NoBody
		if ct == "" && !hasBody {
			c.Next()
			return
		}
		if !mediaTypeIs(ct, want) {
			e := *errUnsupportedMediaType
			e.Message = "the request body must be Content-Type: " + want
			WriteError(c, &e)
			return
		}
		c.Next()
	}
}

// mediaTypeIs reports whether the Content-Type header value ct names the
// media type want (case-insensitive, parameters ignored).
func mediaTypeIs(ct, want string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.EqualFold(mt, want)
}

// pathIDs checks every path parameter that names an id (":id" and
// ":…_id") with the one strict id parser, answering 404 for anything else
// (an id that cannot exist names nothing), and puts the canonical lower
// case form in its place for the handlers.
func pathIDs() gin.HandlerFunc {
	return func(c *gin.Context) {
		for i, p := range c.Params {
			if p.Key != "id" && !strings.HasSuffix(p.Key, "_id") {
				continue
			}
			id, ok := quiz.ParseID(p.Value)
			if !ok {
				WriteError(c, quiz.Errorf(quiz.CodeNotFound, "no such %s", strings.ReplaceAll(p.Key, "_", " ")))
				return
			}
			c.Params[i].Value = id
		}
		c.Next()
	}
}
