package httpapi

import "github.com/gin-gonic/gin"

// routesAdmin registers §10 (school administration and privacy). The
// roster import takes text/csv, not JSON: its handler checks its own media
// type and reads the body as a stream.
func (s *Server) routesAdmin(v1 *gin.RouterGroup) {
	v1.POST("/auth/password-reset", s.limitLoginIP(), s.redeemReset)

	g := v1.Group("", s.requireAuth())
	g.GET("/users", s.listUsers)
	g.PATCH("/users/:id", s.updateUser)
	g.POST("/users/:id/password-reset", s.issueReset)
	g.POST("/classrooms/:id/students/import", s.importRoster)
	g.GET("/students/:id/export", s.exportStudent)
	g.DELETE("/students/:id", s.eraseStudent)
	g.GET("/audit", s.auditLog)
}
