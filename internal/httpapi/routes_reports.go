package httpapi

import "github.com/gin-gonic/gin"

// routesReports registers §7.
func (s *Server) routesReports(v1 *gin.RouterGroup) {}
