-- +goose Up
-- Every answer wrote five index entries; two of them served no query.
-- Reports read the materialized views and the history tables, which are
-- computed from answers by session (the unique key) or by a full scan;
-- exports and erasure find a student's answers by (school_id, student_id).
-- No statement looks answers up by quiz or by classroom, so these two
-- indexes only cost the live path (measured: a batch's insert is the
-- largest single cost of PostgreSQL at the 10 s pace).
DROP INDEX IF EXISTS answers_school_quiz_idx;
DROP INDEX IF EXISTS answers_school_classroom_idx;

-- +goose Down
CREATE INDEX IF NOT EXISTS answers_school_quiz_idx ON answers (school_id, quiz_id, question_id);
CREATE INDEX IF NOT EXISTS answers_school_classroom_idx ON answers (school_id, classroom_id, session_id);
