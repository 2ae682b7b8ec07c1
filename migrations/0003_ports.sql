-- Host ports published for containers: reserved per (container, service)
-- for the container's lifetime, so they never change across restarts.
CREATE TABLE ports (
    id             INTEGER PRIMARY KEY,
    container_id   INTEGER NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    container_port INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
    host_port      INTEGER NOT NULL UNIQUE CHECK (host_port BETWEEN 1 AND 65535),
    -- 0: a configured service every container gets; 1: added by the user.
    user_added     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (container_id, service)
);

ALTER TABLE quotas ADD COLUMN ports INTEGER;
