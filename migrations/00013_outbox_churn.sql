-- +goose Up
-- Every outbox row is deleted within a second or so of its insert, so the
-- table is small but its dead rows pile up between vacuums, and each relay
-- round's probes (which partitions have rows, the oldest rows of one) step
-- over every dead index entry left since the last one: at ~1,000 events/s
-- the probes cost more than the publishing. Vacuum it after every 1,000
-- deletions, at full speed (the table stays a few pages long). Autovacuum
-- looks only every autovacuum_naptime (1 min by default): run PostgreSQL
-- with a shorter one (scripts/services.sh: 5 s; docs/operations.md).
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 5000
);

-- Each outbox row is written once and deleted about a second later; the
-- index by school served nothing but an erasure's update of the rows still
-- waiting (a scan of a table that small costs less than an index entry per
-- event). Every answer, join and command writes one fewer index entry.
DROP INDEX IF EXISTS outbox_school_idx;

-- +goose Down
CREATE INDEX IF NOT EXISTS outbox_school_idx ON outbox (school_id, created_at);
ALTER TABLE outbox RESET (
    autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_insert_scale_factor,
    autovacuum_vacuum_insert_threshold, autovacuum_vacuum_cost_delay, autovacuum_analyze_scale_factor,
    autovacuum_analyze_threshold
);
