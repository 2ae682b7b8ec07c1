-- Snapshots pinned against pruning (LXD holds the snapshots themselves),
-- and the per-user snapshot quota.
CREATE TABLE snapshot_pins (
    container_id INTEGER NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    PRIMARY KEY (container_id, name)
);

ALTER TABLE quotas ADD COLUMN snapshots INTEGER;
