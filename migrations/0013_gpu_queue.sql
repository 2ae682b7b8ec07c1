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

-- What each user's containers used, per UTC day, summed by the sweep:
-- time running, CPU time (LXD's CPU counters) and GPU time busy (samples
-- at or over [idle] gpu_percent where nvidia-smi runs). GPU-hours booked
-- come from gpu_assignments. Owners are names, as in the audit trail. A
-- row a user and day: a year of a lab is a few thousand rows.
CREATE TABLE usage_days (
    owner       TEXT    NOT NULL,
    day         INTEGER NOT NULL, -- unix seconds at the day's start (UTC)
    running_s   REAL    NOT NULL DEFAULT 0,
    cpu_s       REAL    NOT NULL DEFAULT 0,
    gpu_busy_s  REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, day)
) WITHOUT ROWID;
CREATE INDEX usage_days_day ON usage_days (day);

-- Notices (a lease running out, an idle stop coming, a queued launch
-- started) wait here until delivered to the webhook or by email, retried
-- with backoff: a restart or a dead mail server loses none. dedupe makes
-- a notice once-only (the 1h warning of one lease); a 'session' row is a
-- notice written at once on the member's open sessions, kept for that.
-- Addresses are the users' own, set with 'email ADDR'.
CREATE TABLE user_emails (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    address TEXT    NOT NULL
);

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    owner      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    dedupe     TEXT,
    channel    TEXT    NOT NULL CHECK (channel IN ('webhook', 'email', 'session')),
    target     TEXT    NOT NULL DEFAULT '',
    text       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    sent_at    INTEGER,
    last_error TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX outbox_dedupe ON outbox (dedupe, channel) WHERE dedupe IS NOT NULL;
CREATE INDEX outbox_due ON outbox (next_at) WHERE sent_at IS NULL;
