-- +goose Up
-- Rolled-up report history (docs/reports.md, "History and recent").
--
-- A full refresh of the views of 00003 re-reads every answer ever given
-- (~15 s at 1M answers). But a session's answers are final once it ended:
-- answers are accepted only while a question is open (FOR SHARE on the run
-- question), and ending closes every question. So each ended session's
-- report rows are written ONCE into history tables (by the worker's Rollup,
-- upsert by session), the views are restricted to sessions not rolled up
-- yet (live ones and those that ended in the last minute or so), and the
-- report queries read history UNION ALL view.
--
-- The rows' SQL exists once: the functions report_*_rows(session_ids) below
-- compute the rows of the given sessions; the views call them with the
-- sessions not rolled up, the roll-up with a batch of ended sessions. They
-- return the history tables' row types, so view and history rows have the
-- same columns by construction.

-- Set (by the roll-up, in the transaction that writes the session's history
-- rows) once a session's report rows are in the history tables. NULL: live,
-- in the lobby, or ended and not rolled up yet.
ALTER TABLE sessions ADD COLUMN rolled_up_at timestamptz;
-- The sessions not rolled up: what the views are built from and what the
-- roll-up sweeps (ended ones by ended_at). Small at any history size: a
-- worker-side index, like sessions_live_idx.
CREATE INDEX sessions_unrolled_idx ON sessions (ended_at) WHERE rolled_up_at IS NULL;

-- The history tables: the views' columns, keys and indexes, school_id
-- first. The primary keys are the upsert's conflict targets.
CREATE TABLE report_student_sessions_history (
    school_id           uuid NOT NULL,
    session_id          uuid NOT NULL,
    student_id          uuid NOT NULL,
    classroom_id        uuid NOT NULL,
    quiz_id             uuid NOT NULL,
    quiz_version        integer NOT NULL,
    teacher_id          uuid NOT NULL,
    started_at          timestamptz NOT NULL,
    answers_all         integer NOT NULL,
    answered            integer NOT NULL,
    correct             integer NOT NULL,
    score               bigint NOT NULL,
    response_ms_sum     bigint NOT NULL,
    response_ms_all_sum bigint NOT NULL,
    completed           boolean NOT NULL,
    rank                integer NOT NULL,
    PRIMARY KEY (school_id, session_id, student_id)
);
CREATE INDEX report_student_sessions_history_student_idx ON report_student_sessions_history (school_id, student_id, started_at, session_id);
CREATE INDEX report_student_sessions_history_classroom_idx ON report_student_sessions_history (school_id, classroom_id, started_at);

CREATE TABLE report_classroom_sessions_history (
    school_id       uuid NOT NULL,
    session_id      uuid NOT NULL,
    classroom_id    uuid NOT NULL,
    quiz_id         uuid NOT NULL,
    quiz_version    integer NOT NULL,
    teacher_id      uuid NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    asked           integer NOT NULL,
    participants    integer NOT NULL,
    completers      integer NOT NULL,
    answers_all     bigint NOT NULL,
    response_ms_sum bigint NOT NULL,
    PRIMARY KEY (school_id, session_id)
);
CREATE INDEX report_classroom_sessions_history_classroom_idx ON report_classroom_sessions_history (school_id, classroom_id, started_at, session_id);
CREATE INDEX report_classroom_sessions_history_quiz_idx ON report_classroom_sessions_history (school_id, quiz_id, started_at);

CREATE TABLE report_question_stats_history (
    school_id        uuid NOT NULL,
    session_id       uuid NOT NULL,
    question_id      uuid NOT NULL,
    classroom_id     uuid NOT NULL,
    quiz_id          uuid NOT NULL,
    quiz_version     integer NOT NULL,
    teacher_id       uuid NOT NULL,
    started_at       timestamptz NOT NULL,
    idx              integer NOT NULL,
    kind             text NOT NULL,
    attempts         integer NOT NULL,
    scored           integer NOT NULL,
    correct          integer NOT NULL,
    response_ms_sum  bigint NOT NULL,
    rest_sum         numeric NOT NULL,
    rest_sq_sum      numeric NOT NULL,
    rest_correct_sum numeric NOT NULL,
    distribution     jsonb NOT NULL,
    wrong_picks      jsonb NOT NULL,
    PRIMARY KEY (school_id, session_id, question_id)
);
CREATE INDEX report_question_stats_history_quiz_idx ON report_question_stats_history (school_id, quiz_id, started_at);

-- The functions hold the SQL of 00003's views, unchanged in what it
-- computes, restricted to the started sessions among session_ids. The query
-- is run by EXECUTE so that it is planned at each call with the actual ids:
-- a handful (the recent view, a roll-up batch) reads answers by session
-- through the unique (session_id, question_id, student_id,
-- session_created_at) index, one partition per session; every session (the
-- views right after this migration, bulk-loaded data not rolled up yet)
-- gets hash joins over whole partitions, as 00003's views did. A plan made
-- once for any array (a plain SQL function) guesses ~10 sessions and is
-- quadratic over thousands.

-- One row per (session, student who answered at least once).
--   answers_all: every answer, polls included (participation);
--   answered/correct/score/response_ms_sum: scored (non-poll) answers only;
--   completed: answered every question opened in the session;
--   rank: within the session by score, ties share a rank (1, 2, 2, 4).
-- +goose StatementBegin
CREATE FUNCTION report_student_session_rows(session_ids uuid[])
RETURNS SETOF report_student_sessions_history LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q$
    WITH s AS (
        SELECT id, school_id, classroom_id, quiz_id, quiz_version, teacher_id, started_at, created_at
        FROM sessions
        WHERE id = ANY ($1) AND started_at IS NOT NULL
    ), asked AS (
        SELECT sq.session_id, count(*)::integer AS asked
        FROM s JOIN session_questions sq ON sq.session_id = s.id
        GROUP BY sq.session_id
    ), per AS (
        SELECT a.session_id, a.student_id,
               count(*)::integer                                                  AS answers_all,
               count(*) FILTER (WHERE a.correct IS NOT NULL)::integer             AS answered,
               count(*) FILTER (WHERE a.correct)::integer                         AS correct,
               coalesce(sum(a.points) FILTER (WHERE a.correct IS NOT NULL), 0)::bigint        AS score,
               coalesce(sum(a.response_ms) FILTER (WHERE a.correct IS NOT NULL), 0)::bigint   AS response_ms_sum,
               sum(a.response_ms)::bigint                                         AS response_ms_all_sum
        FROM s JOIN answers a ON a.session_id = s.id AND a.session_created_at = s.created_at
        GROUP BY a.session_id, a.student_id
    )
    SELECT s.school_id, s.id AS session_id, p.student_id,
           s.classroom_id, s.quiz_id, s.quiz_version, s.teacher_id, s.started_at,
           p.answers_all, p.answered, p.correct, p.score, p.response_ms_sum, p.response_ms_all_sum,
           p.answers_all >= coalesce(q.asked, 0) AS completed,
           rank() OVER (PARTITION BY s.id ORDER BY p.score DESC)::integer AS rank
    FROM per p
    JOIN s ON s.id = p.session_id
    LEFT JOIN asked q ON q.session_id = p.session_id
    $q$ USING session_ids;
END
$fn$;
-- +goose StatementEnd

-- One row per started session: the classroom engagement per session.
--   asked: questions opened; participants: students who answered at least
--   once (polls count); completers: participants who answered every opened
--   question; answers_all/response_ms_sum: every answer, polls included.
-- +goose StatementBegin
CREATE FUNCTION report_classroom_session_rows(session_ids uuid[])
RETURNS SETOF report_classroom_sessions_history LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q$
    WITH s AS (
        SELECT id, school_id, classroom_id, quiz_id, quiz_version, teacher_id, started_at, ended_at, created_at
        FROM sessions
        WHERE id = ANY ($1) AND started_at IS NOT NULL
    ), asked AS (
        SELECT sq.session_id, count(*)::integer AS asked
        FROM s JOIN session_questions sq ON sq.session_id = s.id
        GROUP BY sq.session_id
    ), per_student AS (
        SELECT a.session_id, a.student_id, count(*) AS n, sum(a.response_ms) AS ms
        FROM s JOIN answers a ON a.session_id = s.id AND a.session_created_at = s.created_at
        GROUP BY a.session_id, a.student_id
    ), per AS (
        SELECT ps.session_id,
               count(*)::integer                                              AS participants,
               count(*) FILTER (WHERE ps.n >= coalesce(q.asked, 0))::integer  AS completers,
               sum(ps.n)::bigint                                              AS answers_all,
               sum(ps.ms)::bigint                                             AS response_ms_sum
        FROM per_student ps
        LEFT JOIN asked q ON q.session_id = ps.session_id
        GROUP BY ps.session_id
    )
    SELECT s.school_id, s.id AS session_id,
           s.classroom_id, s.quiz_id, s.quiz_version, s.teacher_id, s.started_at, s.ended_at,
           coalesce(q.asked, 0)            AS asked,
           coalesce(p.participants, 0)     AS participants,
           coalesce(p.completers, 0)       AS completers,
           coalesce(p.answers_all, 0)      AS answers_all,
           coalesce(p.response_ms_sum, 0)  AS response_ms_sum
    FROM s
    LEFT JOIN per p ON p.session_id = s.id
    LEFT JOIN asked q ON q.session_id = s.id
    $q$ USING session_ids;
END
$fn$;
-- +goose StatementEnd

-- One row per (session, opened question): the item statistics as
-- sufficient statistics, so several sessions combine by summing.
--   attempts/response_ms_sum: every answer to the question;
--   scored, correct: non-poll answers and the correct ones among them;
--   rest_*: for the point-biserial correlation between correctness (x, 0/1)
--     and the student's score on the rest of the session's quiz (y = the
--     session score minus the points on this question), over scored
--     attempts: rest_sum = Σy, rest_sq_sum = Σy², rest_correct_sum = Σxy
--     (Σx = correct and Σx² = Σx since x is 0/1);
--   distribution: {option_id: times picked} (options never picked absent);
--   wrong_picks: {option_id: times picked in a wrong answer}.
-- +goose StatementBegin
CREATE FUNCTION report_question_stat_rows(session_ids uuid[])
RETURNS SETOF report_question_stats_history LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q$
    WITH s AS (
        SELECT id, school_id, classroom_id, quiz_id, quiz_version, teacher_id, started_at, created_at
        FROM sessions
        WHERE id = ANY ($1) AND started_at IS NOT NULL
    ), a AS (
        SELECT a.session_id, a.question_id, a.student_id, a.choices, a.correct, a.points, a.response_ms
        FROM s JOIN answers a ON a.session_id = s.id AND a.session_created_at = s.created_at
    ), scores AS (
        SELECT session_id, student_id, sum(points)::bigint AS score
        FROM a
        GROUP BY session_id, student_id
    ), att AS (
        SELECT a.session_id, a.question_id,
               count(*)::integer                                          AS attempts,
               count(*) FILTER (WHERE a.correct IS NOT NULL)::integer     AS scored,
               count(*) FILTER (WHERE a.correct)::integer                 AS correct,
               sum(a.response_ms)::bigint                                 AS response_ms_sum,
               coalesce(sum(sc.score - a.points) FILTER (WHERE a.correct IS NOT NULL), 0)::numeric AS rest_sum,
               coalesce(sum((sc.score - a.points)::numeric * (sc.score - a.points))
                        FILTER (WHERE a.correct IS NOT NULL), 0)                          AS rest_sq_sum,
               coalesce(sum(sc.score - a.points) FILTER (WHERE a.correct), 0)::numeric     AS rest_correct_sum
        FROM a
        JOIN scores sc ON sc.session_id = a.session_id AND sc.student_id = a.student_id
        GROUP BY a.session_id, a.question_id
    ), picks AS (
        SELECT a.session_id, a.question_id, c.option_id,
               count(*)                                      AS picks,
               count(*) FILTER (WHERE a.correct = false)     AS wrong_picks
        FROM a
        CROSS JOIN LATERAL unnest(a.choices) AS c(option_id)
        GROUP BY a.session_id, a.question_id, c.option_id
    ), dist AS (
        SELECT session_id, question_id,
               jsonb_object_agg(option_id, picks) AS distribution,
               coalesce(jsonb_object_agg(option_id, wrong_picks) FILTER (WHERE wrong_picks > 0), '{}') AS wrong_picks
        FROM picks
        GROUP BY session_id, question_id
    )
    SELECT s.school_id, sq.session_id, sq.question_id,
           s.classroom_id, s.quiz_id, s.quiz_version, s.teacher_id, s.started_at,
           sq.idx, q.kind,
           coalesce(t.attempts, 0)           AS attempts,
           coalesce(t.scored, 0)             AS scored,
           coalesce(t.correct, 0)            AS correct,
           coalesce(t.response_ms_sum, 0)    AS response_ms_sum,
           coalesce(t.rest_sum, 0)           AS rest_sum,
           coalesce(t.rest_sq_sum, 0)        AS rest_sq_sum,
           coalesce(t.rest_correct_sum, 0)   AS rest_correct_sum,
           coalesce(d.distribution, '{}')    AS distribution,
           coalesce(d.wrong_picks, '{}')     AS wrong_picks
    FROM s
    JOIN session_questions sq ON sq.session_id = s.id
    JOIN questions q ON q.id = sq.question_id
    LEFT JOIN att t ON t.session_id = sq.session_id AND t.question_id = sq.question_id
    LEFT JOIN dist d ON d.session_id = sq.session_id AND d.question_id = sq.question_id
    $q$ USING session_ids;
END
$fn$;
-- +goose StatementEnd

-- The views, now over the sessions not rolled up only (sessions_unrolled_idx):
-- their size, and the cost of a refresh, follow the live and just-ended
-- sessions, not history. Same names, columns and indexes as in 00003.
DROP MATERIALIZED VIEW report_question_stats;
DROP MATERIALIZED VIEW report_classroom_sessions;
DROP MATERIALIZED VIEW report_student_sessions;

CREATE MATERIALIZED VIEW report_student_sessions AS
SELECT * FROM report_student_session_rows(ARRAY(
    SELECT id FROM sessions WHERE rolled_up_at IS NULL AND started_at IS NOT NULL));
CREATE UNIQUE INDEX report_student_sessions_key ON report_student_sessions (school_id, session_id, student_id);
CREATE INDEX report_student_sessions_student_idx ON report_student_sessions (school_id, student_id, started_at, session_id);
CREATE INDEX report_student_sessions_classroom_idx ON report_student_sessions (school_id, classroom_id, started_at);

CREATE MATERIALIZED VIEW report_classroom_sessions AS
SELECT * FROM report_classroom_session_rows(ARRAY(
    SELECT id FROM sessions WHERE rolled_up_at IS NULL AND started_at IS NOT NULL));
CREATE UNIQUE INDEX report_classroom_sessions_key ON report_classroom_sessions (school_id, session_id);
CREATE INDEX report_classroom_sessions_classroom_idx ON report_classroom_sessions (school_id, classroom_id, started_at, session_id);
CREATE INDEX report_classroom_sessions_quiz_idx ON report_classroom_sessions (school_id, quiz_id, started_at);

CREATE MATERIALIZED VIEW report_question_stats AS
SELECT * FROM report_question_stat_rows(ARRAY(
    SELECT id FROM sessions WHERE rolled_up_at IS NULL AND started_at IS NOT NULL));
CREATE UNIQUE INDEX report_question_stats_key ON report_question_stats (school_id, session_id, question_id);
CREATE INDEX report_question_stats_quiz_idx ON report_question_stats (school_id, quiz_id, started_at);

UPDATE view_refreshes SET refreshed_at = now(), duration_ms = 0
WHERE view_name IN ('report_student_sessions', 'report_classroom_sessions', 'report_question_stats');

-- +goose Down
-- Back to 00003's full views; the history is dropped (it is derived).
DROP MATERIALIZED VIEW report_question_stats;
DROP MATERIALIZED VIEW report_classroom_sessions;
DROP MATERIALIZED VIEW report_student_sessions;
DROP FUNCTION report_question_stat_rows(uuid[]);
DROP FUNCTION report_classroom_session_rows(uuid[]);
DROP FUNCTION report_student_session_rows(uuid[]);
DROP TABLE report_question_stats_history, report_classroom_sessions_history, report_student_sessions_history;
DROP INDEX sessions_unrolled_idx;
ALTER TABLE sessions DROP COLUMN rolled_up_at;
-- 00003's full views, as 00003 created them.
CREATE MATERIALIZED VIEW report_student_sessions AS
WITH asked AS (
    SELECT session_id, count(*)::integer AS asked
    FROM session_questions
    GROUP BY session_id
), per AS (
    SELECT a.session_id, a.student_id,
           count(*)::integer                                                  AS answers_all,
           count(*) FILTER (WHERE a.correct IS NOT NULL)::integer             AS answered,
           count(*) FILTER (WHERE a.correct)::integer                         AS correct,
           coalesce(sum(a.points) FILTER (WHERE a.correct IS NOT NULL), 0)::bigint        AS score,
           coalesce(sum(a.response_ms) FILTER (WHERE a.correct IS NOT NULL), 0)::bigint   AS response_ms_sum,
           sum(a.response_ms)::bigint                                         AS response_ms_all_sum
    FROM answers a
    GROUP BY a.session_id, a.student_id
)
SELECT s.school_id, s.id AS session_id, p.student_id,
       s.classroom_id, s.quiz_id, s.quiz_version, s.teacher_id, s.started_at,
       p.answers_all, p.answered, p.correct, p.score, p.response_ms_sum, p.response_ms_all_sum,
       p.answers_all >= coalesce(q.asked, 0) AS completed,
       rank() OVER (PARTITION BY s.id ORDER BY p.score DESC)::integer AS rank
FROM per p
JOIN sessions s ON s.id = p.session_id
LEFT JOIN asked q ON q.session_id = p.session_id
WHERE s.started_at IS NOT NULL;

CREATE UNIQUE INDEX report_student_sessions_key ON report_student_sessions (school_id, session_id, student_id);
-- Student performance: a student's sessions by start time.
CREATE INDEX report_student_sessions_student_idx ON report_student_sessions (school_id, student_id, started_at, session_id);
-- Classroom engagement: the distinct students over a time range.
CREATE INDEX report_student_sessions_classroom_idx ON report_student_sessions (school_id, classroom_id, started_at);

-- One row per started session: the classroom engagement per session.
--   asked: questions opened; participants: students who answered at least
--   once (polls count); completers: participants who answered every opened
--   question; answers_all/response_ms_sum: every answer, polls included.
CREATE MATERIALIZED VIEW report_classroom_sessions AS
WITH asked AS (
    SELECT session_id, count(*)::integer AS asked
    FROM session_questions
    GROUP BY session_id
), per_student AS (
    SELECT session_id, student_id, count(*) AS n, sum(response_ms) AS ms
    FROM answers
    GROUP BY session_id, student_id
), per AS (
    SELECT ps.session_id,
           count(*)::integer                                              AS participants,
           count(*) FILTER (WHERE ps.n >= coalesce(q.asked, 0))::integer  AS completers,
           sum(ps.n)::bigint                                              AS answers_all,
           sum(ps.ms)::bigint                                             AS response_ms_sum
    FROM per_student ps
    LEFT JOIN asked q ON q.session_id = ps.session_id
    GROUP BY ps.session_id
)
SELECT s.school_id, s.id AS session_id,
       s.classroom_id, s.quiz_id, s.quiz_version, s.teacher_id, s.started_at, s.ended_at,
       coalesce(q.asked, 0)            AS asked,
       coalesce(p.participants, 0)     AS participants,
       coalesce(p.completers, 0)       AS completers,
       coalesce(p.answers_all, 0)      AS answers_all,
       coalesce(p.response_ms_sum, 0)  AS response_ms_sum
FROM sessions s
LEFT JOIN per p ON p.session_id = s.id
LEFT JOIN asked q ON q.session_id = s.id
WHERE s.started_at IS NOT NULL;

CREATE UNIQUE INDEX report_classroom_sessions_key ON report_classroom_sessions (school_id, session_id);
-- Classroom engagement: a classroom's sessions by start time.
CREATE INDEX report_classroom_sessions_classroom_idx ON report_classroom_sessions (school_id, classroom_id, started_at, session_id);
-- Content effectiveness: how many sessions ran a quiz.
CREATE INDEX report_classroom_sessions_quiz_idx ON report_classroom_sessions (school_id, quiz_id, started_at);

-- One row per (session, opened question): the item statistics as
-- sufficient statistics, so several sessions combine by summing.
--   attempts/response_ms_sum: every answer to the question;
--   scored, correct: non-poll answers and the correct ones among them;
--   rest_*: for the point-biserial correlation between correctness (x, 0/1)
--     and the student's score on the rest of the session's quiz (y = the
--     session score minus the points on this question), over scored
--     attempts: rest_sum = Σy, rest_sq_sum = Σy², rest_correct_sum = Σxy
--     (Σx = correct and Σx² = Σx since x is 0/1);
--   distribution: {option_id: times picked} (options never picked absent);
--   wrong_picks: {option_id: times picked in a wrong answer}.
CREATE MATERIALIZED VIEW report_question_stats AS
WITH scores AS (
    SELECT session_id, student_id, sum(points)::bigint AS score
    FROM answers
    GROUP BY session_id, student_id
), att AS (
    SELECT a.session_id, a.question_id,
           count(*)::integer                                          AS attempts,
           count(*) FILTER (WHERE a.correct IS NOT NULL)::integer     AS scored,
           count(*) FILTER (WHERE a.correct)::integer                 AS correct,
           sum(a.response_ms)::bigint                                 AS response_ms_sum,
           coalesce(sum(sc.score - a.points) FILTER (WHERE a.correct IS NOT NULL), 0)::numeric AS rest_sum,
           coalesce(sum((sc.score - a.points)::numeric * (sc.score - a.points))
                    FILTER (WHERE a.correct IS NOT NULL), 0)                          AS rest_sq_sum,
           coalesce(sum(sc.score - a.points) FILTER (WHERE a.correct), 0)::numeric     AS rest_correct_sum
    FROM answers a
    JOIN scores sc ON sc.session_id = a.session_id AND sc.student_id = a.student_id
    GROUP BY a.session_id, a.question_id
), picks AS (
    SELECT a.session_id, a.question_id, c.option_id,
           count(*)                                      AS picks,
           count(*) FILTER (WHERE a.correct = false)     AS wrong_picks
    FROM answers a
    CROSS JOIN LATERAL unnest(a.choices) AS c(option_id)
    GROUP BY a.session_id, a.question_id, c.option_id
), dist AS (
    SELECT session_id, question_id,
           jsonb_object_agg(option_id, picks) AS distribution,
           coalesce(jsonb_object_agg(option_id, wrong_picks) FILTER (WHERE wrong_picks > 0), '{}') AS wrong_picks
    FROM picks
    GROUP BY session_id, question_id
)
SELECT s.school_id, sq.session_id, sq.question_id,
       s.classroom_id, s.quiz_id, s.quiz_version, s.teacher_id, s.started_at,
       sq.idx, q.kind,
       coalesce(t.attempts, 0)           AS attempts,
       coalesce(t.scored, 0)             AS scored,
       coalesce(t.correct, 0)            AS correct,
       coalesce(t.response_ms_sum, 0)    AS response_ms_sum,
       coalesce(t.rest_sum, 0)           AS rest_sum,
       coalesce(t.rest_sq_sum, 0)        AS rest_sq_sum,
       coalesce(t.rest_correct_sum, 0)   AS rest_correct_sum,
       coalesce(d.distribution, '{}')    AS distribution,
       coalesce(d.wrong_picks, '{}')     AS wrong_picks
FROM session_questions sq
JOIN sessions s ON s.id = sq.session_id
JOIN questions q ON q.id = sq.question_id
LEFT JOIN att t ON t.session_id = sq.session_id AND t.question_id = sq.question_id
LEFT JOIN dist d ON d.session_id = sq.session_id AND d.question_id = sq.question_id
WHERE s.started_at IS NOT NULL;

CREATE UNIQUE INDEX report_question_stats_key ON report_question_stats (school_id, session_id, question_id);
-- Content effectiveness: a quiz's questions over a time range.
CREATE INDEX report_question_stats_quiz_idx ON report_question_stats (school_id, quiz_id, started_at);
