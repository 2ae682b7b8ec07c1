-- Public keys lxcgate put into containers' authorized_keys. The private
-- half is shown once and never stored.
CREATE TABLE container_keys (
    id           INTEGER PRIMARY KEY,
    container_id INTEGER NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    login        TEXT    NOT NULL, -- the user inside the container
    fingerprint  TEXT    NOT NULL,
    comment      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (container_id, login, fingerprint)
);
