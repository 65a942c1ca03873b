package httpapi

import "github.com/gin-gonic/gin"

// routesAuthoring registers §3 and §4 (classrooms, rosters, quizzes).
// Path parameters are named :id for the resource of the path and :user_id
// for a user below it; routes added under /classrooms/:id must use :id too.
func (s *Server) routesAuthoring(v1 *gin.RouterGroup) {
	g := v1.Group("", s.requireAuth())
	g.POST("/classrooms", s.createClassroom)
	g.GET("/classrooms", s.listClassrooms)
	g.GET("/classrooms/:id", s.getClassroom)
	g.POST("/classrooms/:id/students", s.enrolStudents)
	g.GET("/classrooms/:id/students", s.listRoster)
	g.DELETE("/classrooms/:id/students/:user_id", s.unenrolStudent)

	g.POST("/quizzes", s.createQuiz)
	g.GET("/quizzes", s.listQuizzes)
	g.GET("/quizzes/:id", s.getQuiz)
	g.PUT("/quizzes/:id", s.updateQuiz)
	g.DELETE("/quizzes/:id", s.archiveQuiz)
}
