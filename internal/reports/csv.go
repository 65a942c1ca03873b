package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/quizcast/quizcast/internal/csvexport"
)

// csvFlushEvery is how many rows go out per flush: the download streams
// instead of building up in memory.
const csvFlushEvery = 256

// csvSink writes a CSV download: the header row goes out with the first row
// (or at the end, when there is none), so a failure before any data can
// still become an error response.
type csvSink struct {
	open   func() io.Writer
	header []string
	w      *csvexport.Writer // every cell neutralised against formulas
	dst    io.Writer
	rows   int
}

func (s *csvSink) row(rec []string) error {
	if s.w == nil {
		s.dst = s.open()
		s.w = csvexport.NewWriter(s.dst)
		if err := s.w.Write(s.header); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	if rec != nil {
		if err := s.w.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
		s.rows++
		if s.rows%csvFlushEvery == 0 {
			return s.flush()
		}
	}
	return nil
}

func (s *csvSink) flush() error {
	s.w.Flush()
	if err := s.w.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if f, ok := s.dst.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// close writes the header if no row did and flushes.
func (s *csvSink) close() error {
	if err := s.row(nil); err != nil {
		return err
	}
	return s.flush()
}

// The CSV columns: one row per session (performance, engagement) or per
// question (effectiveness, session), named as the JSON fields, with the
// names and texts a teacher reads beside the ids.
func performanceCSVHeader() []string {
	return []string{"student_id", "student_name", "session_id", "quiz_title", "started_at", "answered", "correct", "score", "rank"}
}

func engagementCSVHeader() []string {
	return []string{"session_id", "quiz_title", "started_at", "participants", "participation_rate", "completion_rate", "avg_response_ms"}
}

func questionCSVHeader() []string {
	return []string{"question_id", "quiz_version", "index", "text", "kind", "attempts", "p_correct", "discrimination", "avg_response_ms",
		"distribution", "distribution_by_option", "top_wrong_option_id", "top_wrong_option_text"}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func optFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

func optInt(n *int64) string {
	if n == nil {
		return ""
	}
	return itoa(*n)
}

func optString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func questionRecord(q QuestionStat) ([]string, error) {
	dist, err := json.Marshal(q.Distribution)
	if err != nil {
		return nil, fmt.Errorf("encode distribution: %w", err)
	}
	// "text: n" per option in the question's order, for a reader without
	// the ids at hand.
	var byOption, topWrong []byte
	for i, o := range q.Options {
		if i > 0 {
			byOption = append(byOption, "; "...)
		}
		byOption = fmt.Appendf(byOption, "%s: %d", o.Text, q.Distribution[o.ID])
		if q.TopWrongOptionID != nil && o.ID == *q.TopWrongOptionID {
			topWrong = []byte(o.Text)
		}
	}
	return []string{q.QuestionID, strconv.Itoa(q.QuizVersion), strconv.Itoa(q.Index), q.Text, q.Kind,
		itoa(q.Attempts), optFloat(q.PCorrect), optFloat(q.Discrimination), optInt(q.AvgResponseMS),
		string(dist), string(byOption), optString(q.TopWrongOptionID), string(topWrong)}, nil
}

// CSVFilename is the download's name for a report of subject id.
func CSVFilename(kind Kind, id string) string {
	switch kind {
	case KindPerformance:
		return "student-" + id + "-performance.csv"
	case KindEngagement:
		return "classroom-" + id + "-engagement.csv"
	case KindEffectiveness:
		return "quiz-" + id + "-effectiveness.csv"
	default:
		return "session-" + id + "-report.csv"
	}
}

// WriteCSV streams the inner list of the report in sc, every row in range
// (the download is not paged), through a writer obtained from open when the
// first bytes are ready.
func (s *Store) WriteCSV(ctx context.Context, sc Scope, sub *Subject, q Query, open func() io.Writer) error {
	sink := &csvSink{open: open}
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		switch q.Kind {
		case KindPerformance:
			sink.header = performanceCSVHeader()
			var student Person
			if sub != nil && sub.Student != nil {
				student = *sub.Student
			}
			_, err = s.perfSessions(ctx, tx, sc, q, 0, func(p PerformanceSession) error {
				return sink.row([]string{student.ID, student.Name, p.SessionID, p.QuizTitle, p.StartedAt.String(), itoa(p.Answered),
					itoa(p.Correct), itoa(p.Score), strconv.Itoa(p.Rank)})
			})
		case KindEngagement:
			sink.header = engagementCSVHeader()
			var enrolled int64
			if err := tx.QueryRow(ctx, enrolledSQL, sc.SchoolID, sc.SubjectID).Scan(&enrolled); err != nil {
				return fmt.Errorf("enrolled: %w", err)
			}
			_, err = s.engagementSessions(ctx, tx, sc, q, enrolled, 0, func(e EngagementSession) error {
				return sink.row([]string{e.SessionID, e.QuizTitle, e.StartedAt.String(), itoa(e.Participants),
					optFloat(e.ParticipationRate), optFloat(e.CompletionRate), optInt(e.AvgResponseMS)})
			})
		case KindEffectiveness, KindSession:
			sink.header = questionCSVHeader()
			sql := quizQuestionStatsSQL
			if q.Kind == KindSession {
				sql = sessionQuestionStatsSQL
			}
			_, err = s.questionStats(ctx, tx, sql, sc, q, 0, func(qs QuestionStat) error {
				rec, err := questionRecord(qs)
				if err != nil {
					return err
				}
				return sink.row(rec)
			})
		default:
			return fmt.Errorf("unknown report %q", q.Kind)
		}
		return err
	})
	if err != nil {
		return err
	}
	return sink.close()
}
