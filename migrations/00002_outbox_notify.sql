-- +goose Up
-- Wakes the outbox relays: a statement-level trigger, so a transaction that
-- writes many outbox rows sends one notification, and PostgreSQL delivers it
-- only when that transaction commits (identical notifications of one
-- transaction are folded into one). The relays also poll, so a lost
-- notification only delays an event by the poll interval.
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

-- +goose Down
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS quizcast_outbox_notify();
