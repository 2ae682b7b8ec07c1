-- Containers owned by users, and per-user quotas.
CREATE TABLE containers (
    id         INTEGER PRIMARY KEY,
    -- No cascade: a user who still owns containers cannot be deleted.
    user_id    INTEGER NOT NULL REFERENCES users (id),
    name       TEXT    NOT NULL,
    image      TEXT    NOT NULL DEFAULT '',
    cpu        INTEGER NOT NULL DEFAULT 0,
    memory     INTEGER NOT NULL DEFAULT 0,
    disk       INTEGER NOT NULL DEFAULT 0,
    gpus       TEXT    NOT NULL DEFAULT '',
    gpu_count  INTEGER NOT NULL DEFAULT 0,
    -- creating: reserved, LXD not yet done; deleting: LXD delete under way.
    state      TEXT    NOT NULL DEFAULT 'creating' CHECK (state IN ('creating', 'ready', 'deleting')),
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

-- NULL columns take the configured default.
CREATE TABLE quotas (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    containers INTEGER,
    cpu        INTEGER,
    memory     INTEGER,
    disk       INTEGER,
    gpus       INTEGER
);
