-- +goose Up
-- School administration and privacy (docs/privacy.md): deactivation,
-- password reset codes, the audit log, and erasure that leaves answers as
-- anonymous rows.

-- A deactivated user cannot log in; their logins were revoked when it
-- happened. NULL: active.
ALTER TABLE users ADD COLUMN deactivated_at timestamptz;
-- The admin list searches by name or email, case-insensitively.
CREATE INDEX users_school_name_idx ON users (school_id, name, id);

-- One pending reset code per user (a new code replaces the older one),
-- stored as its SHA-256 and spent (deleted) by its redemption.
CREATE TABLE password_resets (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    school_id  uuid NOT NULL REFERENCES schools (id),
    code_hash  bytea NOT NULL,
    issued_by  uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX password_resets_school_idx ON password_resets (school_id, user_id);
CREATE INDEX password_resets_expiry_idx ON password_resets (expires_at);

-- Erasure replaces a student's id in session_participants by an anonymous
-- id that names no user, as in answers (which never had a foreign key), so
-- a session keeps its participant count after the account is deleted.
ALTER TABLE session_participants DROP CONSTRAINT IF EXISTS session_participants_student_id_fkey;

-- The audit log: who did what to whom, partitioned by month of `at` so
-- that retention drops whole partitions. Append-only: a trigger refuses
-- UPDATE and DELETE, except inside a transaction that set
-- quizcast.audit_erasure = 'on' (erasure clears the erased student's id
-- from the rows that are not its student.erased entry).
CREATE TABLE audit_log (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    at           timestamptz NOT NULL DEFAULT now(),
    school_id    uuid NOT NULL,
    actor_id     uuid,
    action       text NOT NULL,
    subject_type text NOT NULL CHECK (subject_type IN ('user', 'classroom', 'report')),
    subject_id   uuid,
    request_id   text NOT NULL DEFAULT '',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_log_school_at_idx ON audit_log (school_id, at, id);
CREATE INDEX audit_log_school_actor_idx ON audit_log (school_id, actor_id, at);
CREATE INDEX audit_log_school_subject_idx ON audit_log (school_id, subject_id, at);

-- +goose StatementBegin
CREATE FUNCTION quizcast_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('quizcast.audit_erasure', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION quizcast_audit_append_only();

-- Creates the monthly partitions of audit_log from the month of from_ts to
-- the month of to_ts. Idempotent; returns how many it created.
-- +goose StatementBegin
CREATE FUNCTION quizcast_ensure_audit_partitions(from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m       date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
    last    date := date_trunc('month', to_ts AT TIME ZONE 'UTC')::date;
    part    text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('quizcast_ensure_audit_partitions'));
    WHILE m <= last LOOP
        part := format('audit_log_%s', to_char(m, 'YYYY_MM'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                part,
                (m::timestamp AT TIME ZONE 'UTC'),
                ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END
$$;
-- +goose StatementEnd

SELECT quizcast_ensure_audit_partitions(now() - interval '1 month', now() + interval '3 months');

-- +goose Down
DROP TABLE IF EXISTS audit_log;
DROP FUNCTION IF EXISTS quizcast_ensure_audit_partitions(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS quizcast_audit_append_only();
DROP TABLE IF EXISTS password_resets;
DROP INDEX IF EXISTS users_school_name_idx;
ALTER TABLE users DROP COLUMN IF EXISTS deactivated_at;
