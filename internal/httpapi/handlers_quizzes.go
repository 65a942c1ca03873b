package httpapi

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/go-playground/validator/v10"

	"github.com/quizcast/quizcast/internal/quiz"
)

// Question defaults of the contract (§4).
const (
	DefaultTimeLimitS = 20
	DefaultPoints     = 1000
)

// quizBody is the contract's quiz body, for create and update alike.
type quizBody struct {
	Title       string         `json:"title" validate:"required,max=200" clean:"trim"`
	Description string         `json:"description" validate:"max=2000"`
	Questions   []questionBody `json:"questions" validate:"required,min=1,max=100,dive"`
}

// questionBody is one question as written; correct holds option indexes.
// Rules across its fields are in questionRules.
type questionBody struct {
	Text       string       `json:"text" validate:"required,max=1000" clean:"trim"`
	Kind       quiz.Kind    `json:"kind" validate:"required,oneof=single multi true_false poll"`
	Options    []optionBody `json:"options" validate:"required,min=2,max=6,dive"`
	Correct    []int        `json:"correct"`
	TimeLimitS *int         `json:"time_limit_s" validate:"omitnil,min=5,max=300"`
	Points     *int         `json:"points" validate:"omitnil,min=0,max=2000"`
}

type optionBody struct {
	Text string `json:"text" validate:"required,max=200" clean:"trim"`
}

// questionRules checks the rules of each kind (§4). It runs even when a
// field check failed, so it trusts no length.
func questionRules(sl validator.StructLevel) {
	q := sl.Current().Interface().(questionBody)
	seen := map[int]bool{}
	for _, i := range q.Correct {
		if i < 0 || i >= len(q.Options) {
			sl.ReportError(q.Correct, "correct", "Correct", "option_index", "")
			return
		}
		if seen[i] {
			sl.ReportError(q.Correct, "correct", "Correct", "unique_index", "")
			return
		}
		seen[i] = true
	}
	switch q.Kind {
	case quiz.KindSingle:
		if len(q.Correct) != 1 {
			sl.ReportError(q.Correct, "correct", "Correct", "one_correct", "")
		}
	case quiz.KindTrueFalse:
		if len(q.Options) != 2 || q.Options[0].Text != "True" || q.Options[1].Text != "False" {
			sl.ReportError(q.Options, "options", "Options", "true_false", "")
		}
		if len(q.Correct) != 1 {
			sl.ReportError(q.Correct, "correct", "Correct", "one_correct", "")
		}
	case quiz.KindMulti:
		if len(q.Correct) == 0 {
			sl.ReportError(q.Correct, "correct", "Correct", "some_correct", "")
		}
	case quiz.KindPoll:
		if len(q.Correct) != 0 {
			sl.ReportError(q.Correct, "correct", "Correct", "poll_correct", "")
		}
		if q.Points != nil && *q.Points != 0 {
			sl.ReportError(q.Points, "points", "Points", "poll_points", "")
		}
	}
}

// toQuiz turns a validated body into a new version, with the defaults.
func (b quizBody) toQuiz() quiz.Quiz {
	q := quiz.Quiz{Title: b.Title, Description: b.Description, Questions: make([]quiz.Question, len(b.Questions))}
	for i, qb := range b.Questions {
		options := make([]string, len(qb.Options))
		for j, o := range qb.Options {
			options[j] = o.Text
		}
		limit, points := DefaultTimeLimitS, DefaultPoints
		if qb.Kind == quiz.KindPoll {
			points = 0
		}
		if qb.TimeLimitS != nil {
			limit = *qb.TimeLimitS
		}
		if qb.Points != nil {
			points = *qb.Points
		}
		q.Questions[i] = quiz.NewQuestion(qb.Text, qb.Kind, options, qb.Correct, limit, points)
		q.Questions[i].Index = i
	}
	return q
}

// quizJSON is a quiz version in the response: the body's shape plus ids,
// with correct answers as option indexes.
type quizJSON struct {
	ID          string         `json:"id"`
	Version     int            `json:"version"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Questions   []questionJSON `json:"questions"`
	OwnerID     string         `json:"owner_id"`
	CreatedAt   quiz.Time      `json:"created_at"`
	UpdatedAt   quiz.Time      `json:"updated_at"`
	ArchivedAt  *quiz.Time     `json:"archived_at,omitempty"`
}

type questionJSON struct {
	ID         string        `json:"id"`
	Index      int           `json:"index"`
	Text       string        `json:"text"`
	Kind       quiz.Kind     `json:"kind"`
	Options    []quiz.Option `json:"options"`
	Correct    []int         `json:"correct"`
	TimeLimitS int           `json:"time_limit_s"`
	Points     int           `json:"points"`
}

func toQuiz(q quiz.Quiz) quizJSON {
	out := quizJSON{ID: q.ID, Version: q.Version, Title: q.Title, Description: q.Description, OwnerID: q.OwnerID,
		CreatedAt: quiz.Time(q.CreatedAt), UpdatedAt: quiz.Time(q.UpdatedAt), ArchivedAt: quiz.TimePtr(q.ArchivedAt),
		Questions: make([]questionJSON, len(q.Questions))}
	for i, qu := range q.Questions {
		correct := []int{}
		for j, o := range qu.Options {
			if slices.Contains(qu.Correct, o.ID) {
				correct = append(correct, j)
			}
		}
		out.Questions[i] = questionJSON{ID: qu.ID, Index: qu.Index, Text: qu.Text, Kind: qu.Kind, Options: qu.Options,
			Correct: correct, TimeLimitS: qu.TimeLimitS, Points: qu.Points}
	}
	return out
}

// quizSummaryJSON is a quiz as listed: its current version, no questions.
type quizSummaryJSON struct {
	ID            string    `json:"id"`
	Version       int       `json:"version"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	QuestionCount int       `json:"question_count"`
	OwnerID       string    `json:"owner_id"`
	CreatedAt     quiz.Time `json:"created_at"`
	UpdatedAt     quiz.Time `json:"updated_at"`
}

func toQuizSummary(q quiz.QuizSummary) quizSummaryJSON {
	return quizSummaryJSON{ID: q.ID, Version: q.Version, Title: q.Title, Description: q.Description,
		QuestionCount: q.QuestionCount, OwnerID: q.OwnerID, CreatedAt: quiz.Time(q.CreatedAt), UpdatedAt: quiz.Time(q.UpdatedAt)}
}

func (s *Server) createQuiz(c *gin.Context) {
	id, ok := caller(c)
	var body quizBody
	if !ok || !s.bind(c, &body) {
		return
	}
	q, err := s.deps.Authoring.CreateQuiz(c.Request.Context(), id, body.toQuiz())
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toQuiz(q))
}

func (s *Server) listQuizzes(c *gin.Context) {
	servePage(c, s.deps.Authoring.Quizzes, toQuizSummary)
}

func (s *Server) getQuiz(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	q, err := s.deps.Authoring.Quiz(c.Request.Context(), id, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, toQuiz(q))
}

func (s *Server) updateQuiz(c *gin.Context) {
	id, ok := caller(c)
	var body quizBody
	if !ok || !s.bind(c, &body) {
		return
	}
	q := body.toQuiz()
	q.ID = c.Param("id")
	q, err := s.deps.Authoring.UpdateQuiz(c.Request.Context(), id, q)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, toQuiz(q))
}

func (s *Server) archiveQuiz(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	if err := s.deps.Authoring.ArchiveQuiz(c.Request.Context(), id, c.Param("id")); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
