package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/webapp"
)

// routesWeb serves the reference web client (§11): "/" and "/app"
// redirect to "/app/", whose files come from the binary.
func (s *Server) routesWeb(r *gin.Engine) {
	toApp := func(c *gin.Context) { c.Redirect(http.StatusFound, webapp.Prefix) }
	for _, p := range []string{"/", "/app"} {
		r.GET(p, toApp)
		r.HEAD(p, toApp)
	}
	serve := func(c *gin.Context) {
		if !s.deps.Web.Exists(c.Request.URL.Path) {
			WriteError(c, quiz.Errorf(quiz.CodeNotFound, "no file %s", c.Request.URL.Path))
			return
		}
		s.deps.Web.ServeHTTP(c.Writer, c.Request)
	}
	r.GET(webapp.Prefix+"*path", serve)
	r.HEAD(webapp.Prefix+"*path", serve)
}
