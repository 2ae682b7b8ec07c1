-- Volumes: custom storage volumes owned by users, which outlive their
-- containers (LXD holds the data; these rows hold ownership and quota),
-- and where each is attached. The per-user volume count quota.
CREATE TABLE volumes (
    id         INTEGER PRIMARY KEY,
    -- No cascade: a user who still owns volumes cannot be deleted.
    user_id    INTEGER NOT NULL REFERENCES users (id),
    name       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    -- creating: reserved, LXD not yet done; deleting: LXD delete under way.
    state      TEXT    NOT NULL DEFAULT 'creating' CHECK (state IN ('creating', 'ready', 'deleting')),
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

-- A container's attachment of a volume goes with the container's row (LXD
-- drops the device with the instance); the volume stays. attaching and
-- detaching mark an LXD device change under way, settled by reconcile.
CREATE TABLE volume_attachments (
    volume_id    INTEGER NOT NULL REFERENCES volumes (id),
    container_id INTEGER NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    path         TEXT    NOT NULL,
    readonly     INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL DEFAULT 'attaching' CHECK (state IN ('attaching', 'ready', 'detaching')),
    PRIMARY KEY (volume_id, container_id),
    UNIQUE (container_id, path)
);

ALTER TABLE quotas ADD COLUMN volumes INTEGER;

-- Volume snapshots pinned against pruning (LXD holds the snapshots).
CREATE TABLE volume_snapshot_pins (
    volume_id INTEGER NOT NULL REFERENCES volumes (id) ON DELETE CASCADE,
    name      TEXT    NOT NULL,
    PRIMARY KEY (volume_id, name)
);
