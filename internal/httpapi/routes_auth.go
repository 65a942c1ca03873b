package httpapi

import "github.com/gin-gonic/gin"

// routesAuth registers §2 (accounts and auth).
func (s *Server) routesAuth(v1 *gin.RouterGroup) {}
