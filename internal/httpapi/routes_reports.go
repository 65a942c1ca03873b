package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/reports"
)

// routesReports registers §7. The routes need the authentication middleware
// of the group they are on: the service answers 401 without an identity.
func (s *Server) routesReports(v1 *gin.RouterGroup) {
	if s.deps.Reports == nil {
		return
	}
	v1.GET("/reports/students/:id/performance", s.report(reports.KindPerformance))
	v1.GET("/reports/classrooms/:id/engagement", s.report(reports.KindEngagement))
	v1.GET("/reports/quizzes/:id/effectiveness", s.report(reports.KindEffectiveness))
	v1.GET("/reports/sessions/:id", s.report(reports.KindSession))
}
