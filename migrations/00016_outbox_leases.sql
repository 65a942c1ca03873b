-- +goose Up
-- Each server node's relay holds a time-limited lease on its fair share of
-- the outbox's 16 partitions (postgres.OutboxStore.Lease): only the holder
-- drains a partition, so a node's per-partition floors see every deletion
-- there and its rounds stop stepping over rows another node deleted. The
-- per-round advisory lock of 00010 stays the guarantee of one drainer at a
-- time (a handover, a node of an older version); a lease only spreads the
-- work. expires_at is compared with the database's now(), never a node's
-- clock; a node that dies without releasing loses its leases when they
-- expire. One row per partition, written by the nodes' renewals only.
CREATE TABLE outbox_leases (
    part       smallint PRIMARY KEY CHECK (part >= 0 AND part < 16),
    holder     text,
    expires_at timestamptz
);
INSERT INTO outbox_leases (part) SELECT generate_series(0, 15);

-- +goose Down
DROP TABLE IF EXISTS outbox_leases;
