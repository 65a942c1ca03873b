package httpapi

import "github.com/gin-gonic/gin"

// routesSessions registers §5 and the WebSocket endpoint of §6.
func (s *Server) routesSessions(v1 *gin.RouterGroup) {}
