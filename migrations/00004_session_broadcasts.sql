-- +goose Up
-- Every broadcast of a session, written in the transaction that bumps the
-- session's seq. It is the truth behind the bounded Redis history: a node
-- that missed a pub/sub message fills the gap from here. `json`, not
-- `jsonb`, so a frame is replayed byte for byte as first sent.
CREATE TABLE session_broadcasts (
    school_id  uuid NOT NULL REFERENCES schools (id),
    session_id uuid NOT NULL REFERENCES sessions (id),
    seq        bigint NOT NULL CHECK (seq >= 1),
    frame      json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX session_broadcasts_school_idx ON session_broadcasts (school_id, session_id);

-- +goose Down
DROP TABLE session_broadcasts;
