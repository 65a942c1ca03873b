-- +goose Up
-- The production schema of Quizcast. Every tenant table carries school_id and
-- an index that starts with it (or with a key that is itself school-scoped).

CREATE TABLE schools (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id  uuid GENERATED ALWAYS AS (id) STORED, -- uniform tenancy column
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id     uuid NOT NULL REFERENCES schools (id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'teacher', 'student')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Logins are by e-mail alone, so an e-mail is unique across schools.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_school_role_idx ON users (school_id, role, name);

-- A login is one sign-in: the refresh tokens it rotates through and the access
-- tokens they mint all carry its id, so revoking it revokes them all.
CREATE TABLE logins (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id  uuid NOT NULL REFERENCES schools (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX logins_school_user_idx ON logins (school_id, user_id);

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,           -- sha256 of the opaque token
    school_id  uuid NOT NULL REFERENCES schools (id),
    login_id   uuid NOT NULL REFERENCES logins (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_login_idx ON refresh_tokens (login_id);
CREATE INDEX refresh_tokens_school_idx ON refresh_tokens (school_id, user_id);

CREATE TABLE classrooms (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id  uuid NOT NULL REFERENCES schools (id),
    teacher_id uuid NOT NULL REFERENCES users (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    subject    text NOT NULL DEFAULT '',
    grade      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX classrooms_school_teacher_idx ON classrooms (school_id, teacher_id, created_at, id);
CREATE INDEX classrooms_school_idx ON classrooms (school_id, created_at, id);

CREATE TABLE enrolments (
    school_id    uuid NOT NULL REFERENCES schools (id),
    classroom_id uuid NOT NULL REFERENCES classrooms (id),
    student_id   uuid NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (classroom_id, student_id)
);
CREATE INDEX enrolments_school_student_idx ON enrolments (school_id, student_id, classroom_id);

-- A quiz is a name for a chain of immutable versions; sessions and reports
-- point at (quiz_id, version), so editing never changes the past.
CREATE TABLE quizzes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id       uuid NOT NULL REFERENCES schools (id),
    owner_id        uuid NOT NULL REFERENCES users (id),
    current_version integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    archived_at     timestamptz
);
CREATE INDEX quizzes_school_owner_idx ON quizzes (school_id, owner_id, created_at, id);
CREATE INDEX quizzes_school_idx ON quizzes (school_id, created_at, id);

CREATE TABLE quiz_versions (
    school_id   uuid NOT NULL REFERENCES schools (id),
    quiz_id     uuid NOT NULL REFERENCES quizzes (id),
    version     integer NOT NULL CHECK (version >= 1),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (quiz_id, version)
);
CREATE INDEX quiz_versions_school_idx ON quiz_versions (school_id, quiz_id);

-- Questions belong to one quiz version; a new version gets new questions.
-- options: [{"id": "...", "text": "..."}] in order; correct: option ids.
CREATE TABLE questions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id    uuid NOT NULL REFERENCES schools (id),
    quiz_id      uuid NOT NULL,
    quiz_version integer NOT NULL,
    idx          integer NOT NULL CHECK (idx >= 0),
    text         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('single', 'multi', 'true_false', 'poll')),
    options      jsonb NOT NULL,
    correct      text[] NOT NULL,
    time_limit_s integer NOT NULL CHECK (time_limit_s BETWEEN 5 AND 300),
    points       integer NOT NULL CHECK (points BETWEEN 0 AND 2000),
    FOREIGN KEY (quiz_id, quiz_version) REFERENCES quiz_versions (quiz_id, version),
    UNIQUE (quiz_id, quiz_version, idx)
);
CREATE INDEX questions_school_idx ON questions (school_id, quiz_id, quiz_version);

-- A live session. seq is the session's broadcast counter: bumped in the same
-- transaction as the change it announces, so it never goes back, even when
-- Redis loses everything.
CREATE TABLE sessions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id         uuid NOT NULL REFERENCES schools (id),
    classroom_id      uuid NOT NULL REFERENCES classrooms (id),
    quiz_id           uuid NOT NULL,
    quiz_version      integer NOT NULL,
    teacher_id        uuid NOT NULL REFERENCES users (id),
    state             text NOT NULL DEFAULT 'lobby' CHECK (state IN ('lobby', 'running', 'ended')),
    seq               bigint NOT NULL DEFAULT 0,
    current_index     integer,               -- index of the last opened question
    question_count    integer NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    ended_at          timestamptz,
    FOREIGN KEY (quiz_id, quiz_version) REFERENCES quiz_versions (quiz_id, version),
    -- answers reference (id, created_at): their partition key is the
    -- session's creation time, which therefore cannot differ per answer.
    UNIQUE (id, created_at)
);
CREATE INDEX sessions_school_classroom_idx ON sessions (school_id, classroom_id, created_at);
CREATE INDEX sessions_school_quiz_idx ON sessions (school_id, quiz_id, started_at);
CREATE INDEX sessions_school_teacher_idx ON sessions (school_id, teacher_id, started_at);
CREATE INDEX sessions_live_idx ON sessions (state) WHERE state <> 'ended';

-- Questions as run in a session: when each opened, its deadline, its close.
CREATE TABLE session_questions (
    school_id   uuid NOT NULL REFERENCES schools (id),
    session_id  uuid NOT NULL REFERENCES sessions (id),
    idx         integer NOT NULL,
    question_id uuid NOT NULL REFERENCES questions (id),
    opened_at   timestamptz NOT NULL,
    deadline    timestamptz NOT NULL,
    closed_at   timestamptz,
    PRIMARY KEY (session_id, idx),
    UNIQUE (session_id, question_id)
);
CREATE INDEX session_questions_school_idx ON session_questions (school_id, session_id);
-- Any node sweeps for overdue questions through this index.
CREATE INDEX session_questions_open_idx ON session_questions (deadline) WHERE closed_at IS NULL;

-- Students who joined a session (connected at least once); kicked ones stay
-- with kicked_at set and cannot rejoin.
CREATE TABLE session_participants (
    school_id  uuid NOT NULL REFERENCES schools (id),
    session_id uuid NOT NULL REFERENCES sessions (id),
    student_id uuid NOT NULL REFERENCES users (id),
    joined_at  timestamptz NOT NULL DEFAULT now(),
    kicked_at  timestamptz,
    PRIMARY KEY (session_id, student_id)
);
CREATE INDEX session_participants_school_idx ON session_participants (school_id, student_id);

-- Answers, partitioned by month of the session's creation. The partition
-- key is constant per session (enforced by the foreign key to
-- sessions (id, created_at)), so the unique index on (session, question,
-- student, partition key) guarantees one answer per student per question.
CREATE TABLE answers (
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    school_id          uuid NOT NULL,
    session_id         uuid NOT NULL,
    session_created_at timestamptz NOT NULL,
    classroom_id       uuid NOT NULL,
    quiz_id            uuid NOT NULL,
    question_id        uuid NOT NULL,
    question_idx       integer NOT NULL,
    student_id         uuid NOT NULL,
    choices            text[] NOT NULL,      -- sorted option ids
    correct            boolean,              -- null for a poll
    points             integer NOT NULL DEFAULT 0,
    received_at        timestamptz NOT NULL,
    response_ms        integer NOT NULL,
    PRIMARY KEY (id, session_created_at),
    UNIQUE (session_id, question_id, student_id, session_created_at),
    FOREIGN KEY (session_id, session_created_at) REFERENCES sessions (id, created_at)
) PARTITION BY RANGE (session_created_at);
CREATE INDEX answers_school_student_idx ON answers (school_id, student_id, received_at);
CREATE INDEX answers_school_quiz_idx ON answers (school_id, quiz_id, question_id);
CREATE INDEX answers_school_classroom_idx ON answers (school_id, classroom_id, session_id);

-- Analytics events as stored by the event worker, partitioned by month of
-- occurrence. A redelivered event carries the same occurred_at, so the
-- unique (event_id, occurred_at) stores each event once.
CREATE TABLE events (
    event_id     uuid NOT NULL,
    name         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    school_id    uuid NOT NULL,
    classroom_id uuid,
    session_id   uuid,
    quiz_id      uuid,
    user_id      uuid,
    app          text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX events_school_name_idx ON events (school_id, name, occurred_at);
CREATE INDEX events_school_session_idx ON events (school_id, session_id) WHERE session_id IS NOT NULL;

-- Transactional outbox: written in the transaction of the change it
-- describes, drained to RabbitMQ by the relay, deleted after the confirm.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    school_id  uuid NOT NULL,
    event_id   uuid NOT NULL UNIQUE,
    name       text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_school_idx ON outbox (school_id, created_at);

-- When each materialized view was last refreshed (the reports' as_of).
-- Global bookkeeping, not tenant data: the one table without school_id.
CREATE TABLE view_refreshes (
    view_name    text PRIMARY KEY,
    refreshed_at timestamptz NOT NULL,
    duration_ms  integer NOT NULL
);

-- Creates the monthly partitions of answers and events for every month from
-- the month of from_ts to the month of to_ts. Idempotent; returns how many
-- partitions it created.
-- +goose StatementBegin
CREATE FUNCTION quizcast_ensure_partitions(from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m       date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
    last    date := date_trunc('month', to_ts AT TIME ZONE 'UTC')::date;
    parent  text;
    part    text;
    created integer := 0;
BEGIN
    -- One creator at a time across nodes.
    PERFORM pg_advisory_xact_lock(hashtext('quizcast_ensure_partitions'));
    WHILE m <= last LOOP
        FOREACH parent IN ARRAY ARRAY['answers', 'events'] LOOP
            part := format('%s_%s', parent, to_char(m, 'YYYY_MM'));
            IF to_regclass(part) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    part, parent,
                    (m::timestamp AT TIME ZONE 'UTC'),
                    ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
                created := created + 1;
            END IF;
        END LOOP;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END
$$;
-- +goose StatementEnd

SELECT quizcast_ensure_partitions(now(), now() + interval '3 months');

-- +goose Down
DROP FUNCTION IF EXISTS quizcast_ensure_partitions(timestamptz, timestamptz);
DROP TABLE IF EXISTS view_refreshes, outbox, events, answers, session_participants,
    session_questions, sessions, questions, quiz_versions, quizzes, enrolments,
    classrooms, refresh_tokens, logins, users, schools CASCADE;
