package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/authoring"
	"github.com/quizcast/quizcast/internal/quiz"
)

// classroomJSON is the contract's classroom; student_count is filled on
// reads (0 right after creation).
type classroomJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Subject      string    `json:"subject"`
	Grade        string    `json:"grade"`
	TeacherID    string    `json:"teacher_id"`
	SchoolID     string    `json:"school_id"`
	StudentCount int       `json:"student_count"`
	CreatedAt    quiz.Time `json:"created_at"`
}

func toClassroom(c quiz.Classroom) classroomJSON {
	return classroomJSON{ID: c.ID, Name: c.Name, Subject: c.Subject, Grade: c.Grade, TeacherID: c.TeacherID,
		SchoolID: c.SchoolID, StudentCount: c.StudentCount, CreatedAt: quiz.Time(c.CreatedAt)}
}

type classroomRequest struct {
	Name    string `json:"name" validate:"required,max=200" clean:"trim"`
	Subject string `json:"subject" validate:"max=200" clean:"trim"`
	Grade   string `json:"grade" validate:"max=50" clean:"trim"`
}

func (s *Server) createClassroom(c *gin.Context) {
	id, ok := caller(c)
	var req classroomRequest
	if !ok || !s.bind(c, &req) {
		return
	}
	cl, err := s.deps.Authoring.CreateClassroom(c.Request.Context(), id, quiz.Classroom{Name: req.Name, Subject: req.Subject, Grade: req.Grade})
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toClassroom(cl))
}

func (s *Server) listClassrooms(c *gin.Context) {
	servePage(c, s.deps.Authoring.Classrooms, toClassroom)
}

func (s *Server) getClassroom(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	cl, err := s.deps.Authoring.Classroom(c.Request.Context(), id, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, toClassroom(cl))
}

// studentRequest is one student to enrol; the password is needed only to
// create an account (an existing student's is ignored).
type studentRequest struct {
	Name     string `json:"name" validate:"required,max=200" clean:"trim"`
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"omitempty,min=8,max=128,new_password"`
}

type enrolRequest struct {
	Students []studentRequest `json:"students" validate:"required,min=1,max=200,dive"`
}

func (s *Server) enrolStudents(c *gin.Context) {
	id, ok := caller(c)
	var req enrolRequest
	if !ok || !s.bind(c, &req) {
		return
	}
	students := make([]authoring.NewStudent, len(req.Students))
	for i, st := range req.Students {
		students[i] = authoring.NewStudent{Name: st.Name, Email: st.Email, Password: st.Password}
	}
	users, err := s.deps.Authoring.Enrol(c.Request.Context(), id, c.Param("id"), students)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, mapList(users, nil, toUser))
}

func (s *Server) listRoster(c *gin.Context) {
	servePage(c, func(ctx context.Context, id auth.Identity, p quiz.Page) ([]quiz.User, *quiz.Cursor, error) {
		return s.deps.Authoring.Roster(ctx, id, c.Param("id"), p)
	}, toUser)
}

func (s *Server) unenrolStudent(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	if err := s.deps.Authoring.Unenrol(c.Request.Context(), id, c.Param("id"), c.Param("user_id")); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
