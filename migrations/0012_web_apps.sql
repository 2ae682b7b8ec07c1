-- Web apps: a container port served through the gateway's apps listener
-- behind the lab's sign-in, on no host port. They share the ports table
-- (one label namespace per container, one quota) with host_port NULL.
CREATE TABLE ports_new (
    id             INTEGER PRIMARY KEY,
    container_id   INTEGER NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    container_port INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
    host_port      INTEGER UNIQUE CHECK (host_port BETWEEN 1 AND 65535),
    user_added     INTEGER NOT NULL DEFAULT 0,
    web            INTEGER NOT NULL DEFAULT 0 CHECK ((web = 1) = (host_port IS NULL)),
    UNIQUE (container_id, service)
);

INSERT INTO ports_new (id, container_id, service, container_port, host_port, user_added, web)
    SELECT id, container_id, service, container_port, host_port, user_added, 0 FROM ports;

DROP TABLE ports;

ALTER TABLE ports_new RENAME TO ports;
