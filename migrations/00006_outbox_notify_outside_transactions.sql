-- +goose Up
-- A NOTIFY in a transaction takes a database-wide lock at commit and holds
-- it through the WAL flush, so the statement trigger of 00002 serialized
-- every command and answer batch of the cluster (measured: 28 commits
-- queued on it under load). The nodes now send one debounced NOTIFY of
-- their own after their commits, outside any business transaction; the
-- relays' poll remains the fallback.
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS quizcast_outbox_notify();

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION quizcast_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('quizcast_outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION quizcast_outbox_notify();
