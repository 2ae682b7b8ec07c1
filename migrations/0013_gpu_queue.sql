-- Launches waiting for GPUs ('launch --gpus N --queue'). A row is waiting
-- until the dispatcher starts it: it is marked starting first, so that a
-- gateway killed in between finds out at its next start whether the
-- container was made. A started or failed row stays until its owner was
-- told at a login (or a week passes). request is the launch as JSON.
CREATE TABLE gpu_queue (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    request    TEXT    NOT NULL,
    gpus       INTEGER NOT NULL CHECK (gpus >= 1),
    host       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'starting', 'started', 'failed')),
    detail     TEXT    NOT NULL DEFAULT '',
    done_at    INTEGER
);

-- One waiting (or starting) launch per name of a user's.
CREATE UNIQUE INDEX gpu_queue_name ON gpu_queue (user_id, name) WHERE state IN ('waiting', 'starting');
CREATE INDEX gpu_queue_state ON gpu_queue (state, created_at);
CREATE INDEX gpu_assignments_since ON gpu_assignments (since_at);
