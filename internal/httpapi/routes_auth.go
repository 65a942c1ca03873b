package httpapi

import "github.com/gin-gonic/gin"

// routesAuth registers §2 (accounts and auth).
func (s *Server) routesAuth(v1 *gin.RouterGroup) {
	public := v1.Group("/auth", s.limitLoginIP())
	public.POST("/register", s.register)
	public.POST("/login", s.login)
	public.POST("/refresh", s.refresh)

	authed := v1.Group("", s.requireAuth())
	authed.POST("/auth/logout", s.logout)
	authed.POST("/auth/ws-ticket", s.wsTicket)
	authed.GET("/me", s.me)
	authed.POST("/teachers", s.createTeacher)
}
