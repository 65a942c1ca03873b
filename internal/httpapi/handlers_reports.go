package httpapi

import (
	"context"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/reports"
)

// Reports is what the report handlers need; *reports.Service fits.
type Reports interface {
	// Report returns the JSON answer of q for the caller of ctx.
	Report(ctx context.Context, q reports.Query) ([]byte, error)
	// ExportCSV streams the CSV download of q, calling open with the file
	// name when the first bytes are ready.
	ExportCSV(ctx context.Context, q reports.Query, open func(filename string) io.Writer) error
}

// report serves one report of §7 as JSON or, when asked, as a CSV download.
func (s *Server) report(kind reports.Kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		q, err := reports.ParseQuery(kind, c.Param("id"), c.Request.URL.Query(), c.GetHeader("Accept"))
		if err != nil {
			WriteError(c, err)
			return
		}
		if q.CSV {
			s.reportCSV(c, q)
			return
		}
		body, err := s.deps.Reports.Report(c.Request.Context(), q)
		if err == nil {
			err = s.auditReport(c, kind == reports.KindPerformance, q.SubjectID, false)
		}
		if err != nil {
			WriteError(c, err)
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	}
}

func (s *Server) reportCSV(c *gin.Context, q reports.Query) {
	err := s.deps.Reports.ExportCSV(c.Request.Context(), q, func(filename string) io.Writer {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		// The name is made of the report's kind and a validated id.
		c.Header("Content-Disposition", `attachment; filename="`+filename+`"`)
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		return c.Writer
	})
	if err == nil {
		// After the download: the rows are out, the record follows.
		if aerr := s.auditReport(c, q.Kind == reports.KindPerformance, q.SubjectID, true); aerr != nil {
			requestLog(c).ErrorContext(c.Request.Context(), "audit of a csv report failed", "err", aerr)
		}
	}
	switch {
	case err == nil:
	case !c.Writer.Written():
		WriteError(c, err)
	default:
		// The header row is out: the status cannot change. Cut the
		// connection so the client sees a broken download, not a short
		// file that looks complete.
		requestLog(c).ErrorContext(c.Request.Context(), "csv report failed mid-stream", "err", err)
		panic(http.ErrAbortHandler)
	}
}
