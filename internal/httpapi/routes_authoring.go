package httpapi

import "github.com/gin-gonic/gin"

// routesAuthoring registers §3 and §4 (classrooms, rosters, quizzes).
func (s *Server) routesAuthoring(v1 *gin.RouterGroup) {}
