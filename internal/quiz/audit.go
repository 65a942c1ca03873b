package quiz

import "time"

// AuditAction names an entry of the audit log.
type AuditAction string

// The audited actions (docs/privacy.md).
const (
	AuditStudentExported     AuditAction = "student.exported"
	AuditStudentErased       AuditAction = "student.erased"
	AuditUserDeactivated     AuditAction = "user.deactivated"
	AuditUserReactivated     AuditAction = "user.reactivated"
	AuditUserRenamed         AuditAction = "user.renamed"
	AuditPasswordResetIssued AuditAction = "user.password_reset_issued"
	AuditPasswordResetUsed   AuditAction = "user.password_reset_used"
	AuditRosterImported      AuditAction = "roster.imported"
	AuditReportViewed        AuditAction = "report.viewed"
	AuditReportExported      AuditAction = "report.exported"
)

// Subject types of audit entries.
const (
	SubjectUser      = "user"
	SubjectClassroom = "classroom"
	SubjectReport    = "report"
)

// AuditEntry is one line of a school's audit log: who (ActorID) did what
// (Action) to what (SubjectType, SubjectID), during which request.
type AuditEntry struct {
	ID          string
	At          time.Time
	SchoolID    string
	ActorID     string
	Action      AuditAction
	SubjectType string
	SubjectID   string
	RequestID   string
}

// AuditFilter narrows the audit log: empty fields do not filter; From is
// inclusive, To exclusive.
type AuditFilter struct {
	ActorID   string
	SubjectID string
	From, To  time.Time
}

// UserFilter narrows the admin's user list: Role by stored role, Query a
// case-insensitive substring of the name or the email.
type UserFilter struct {
	Role  Role
	Query string
}

// RosterRow is one valid data row of a roster import: Row is its number in
// the file (1 = first data row). PasswordHash is set for an account to
// create (auth.NoPassword when the file gave none), empty for an email that
// was registered when the file was read.
type RosterRow struct {
	Row          int
	Name         string
	Email        string
	PasswordHash string
}

// RowError is a refused row of a roster import.
type RowError struct {
	Row     int
	Field   string
	Message string
}

// RosterResult is the outcome of a roster import: created = new accounts
// (also enrolled), enrolled = existing students newly enrolled, unchanged =
// rows that changed nothing.
type RosterResult struct {
	Created, Enrolled, Unchanged int
	Errors                       []RowError
}

// UserChange is an admin's change to an account; nil fields stay.
type UserChange struct {
	Name   *string
	Active *bool
}
