package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/reports"
)

// routesReports registers §7.
func (s *Server) routesReports(v1 *gin.RouterGroup) {
	g := v1.Group("", s.requireAuth())
	g.GET("/reports/students/:id/performance", s.report(reports.KindPerformance))
	g.GET("/reports/classrooms/:id/engagement", s.report(reports.KindEngagement))
	g.GET("/reports/quizzes/:id/effectiveness", s.report(reports.KindEffectiveness))
	g.GET("/reports/sessions/:id", s.report(reports.KindSession))
}
