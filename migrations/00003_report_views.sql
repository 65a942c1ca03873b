-- +goose Up
-- The reports' materialized views (shared/CONTRACT.md §7), refreshed
-- CONCURRENTLY by the event worker. They are built over the truth tables
-- (answers, sessions, session_questions, questions), not over the events
-- table: the truth tables hold exactly one row per answer by constraint,
-- carry correctness, points and response time already computed by the
-- server, and are complete even while the event pipeline lags or RabbitMQ is
-- down. The events only tell the worker WHEN to refresh.
--
-- Every view keeps per-session rows (with the session's started_at), so the
-- reports' from/to filters on the session's start time select rows of the
-- view, and statistics over several sessions are sums of per-session
-- sufficient statistics. Polls are recognised by answers.correct IS NULL.
-- Each view has a UNIQUE index (needed by REFRESH ... CONCURRENTLY) and the
-- indexes of its report queries, school_id first.

-- One row per (session, student who answered at least once).
--   answers_all: every answer, polls included (participation);
--   answered/correct/score/response_ms_sum: scored (non-poll) answers only;
--   completed: answered every question opened in the session;
--   rank: within the session by score, ties share a rank (1, 2, 2, 4).
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

-- The views were filled just now: that is their as_of until the first
-- refresh.
INSERT INTO view_refreshes (view_name, refreshed_at, duration_ms)
VALUES ('report_student_sessions', now(), 0),
       ('report_classroom_sessions', now(), 0),
       ('report_question_stats', now(), 0)
ON CONFLICT (view_name) DO NOTHING;

-- +goose Down
DELETE FROM view_refreshes
WHERE view_name IN ('report_student_sessions', 'report_classroom_sessions', 'report_question_stats');
DROP MATERIALIZED VIEW IF EXISTS report_question_stats;
DROP MATERIALIZED VIEW IF EXISTS report_classroom_sessions;
DROP MATERIALIZED VIEW IF EXISTS report_student_sessions;
