-- +goose Up
-- The outbox is drained by several relays at once, each holding one of 16
-- partitions for one round (a transaction-scoped advisory lock): the
-- events of one session are in one partition, so they still leave in
-- order, while different sessions leave in parallel and from every node.
-- The partition is computed by PostgreSQL from what producers already
-- insert (the session id inside the payload, else the school), so no
-- INSERT into the outbox changes. 16 is fixed here and in
-- postgres.OutboxPartitions; changing it means a new migration.
ALTER TABLE outbox ADD COLUMN part smallint NOT NULL
    GENERATED ALWAYS AS (abs(hashtext(coalesce(payload->>'session_id', school_id::text)) % 16)) STORED;
CREATE INDEX outbox_part_idx ON outbox (part, id);

-- +goose Down
DROP INDEX IF EXISTS outbox_part_idx;
ALTER TABLE outbox DROP COLUMN IF EXISTS part;
