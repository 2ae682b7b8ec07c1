-- The web page and API: one-time sign-in links, browser sessions and API
-- tokens. Only SHA-256 hashes of their secrets are stored; each goes with
-- its user.
CREATE TABLE web_links (
    hash       TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);

CREATE TABLE web_sessions (
    hash       TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL DEFAULT '',
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0, -- 0: never
    last_used  INTEGER NOT NULL DEFAULT 0  -- 0: not yet
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Which GPU each container held, and when: the occupancy chart's history.
-- Owners are names, as in the audit trail, so history outlives a user.
-- gpu is the resolved key: a PCI address, "all", or "member/id" in a
-- cluster. until_at NULL: still held.
CREATE TABLE gpu_assignments (
    id        INTEGER PRIMARY KEY,
    gpu       TEXT    NOT NULL,
    owner     TEXT    NOT NULL,
    container TEXT    NOT NULL,
    since_at  INTEGER NOT NULL,
    until_at  INTEGER
);
CREATE INDEX gpu_assignments_open ON gpu_assignments (owner, container) WHERE until_at IS NULL;
CREATE INDEX gpu_assignments_until ON gpu_assignments (until_at);
