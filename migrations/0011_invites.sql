-- Invite codes: one-time codes with which a new member registers their
-- first public key (ssh invite@gw CODE < key.pub). Only the SHA-256 of a
-- code is kept; a code is 160 random bits, so a plain hash suffices. A
-- user's invites go with the user.
CREATE TABLE invites (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at   INTEGER
);

CREATE INDEX invites_user ON invites (user_id);
