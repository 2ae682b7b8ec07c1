-- Routed addresses in cluster members' subnets (user.lxcgate.subnet),
-- claimed here so that two gateways on one database never hand out the
-- same one: the primary key allows an address once per member subnet.
-- A create claims its address before its reservation (container_id NULL,
-- for user_id and name); the reservation's insert into containers binds
-- the claim (the trigger below), in the create's own transaction. A bound
-- claim goes with its container's row: deleted, or the create undone.
CREATE TABLE routed_addresses (
    subnet       TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    container_id INTEGER REFERENCES containers (id) ON DELETE CASCADE,
    claimed_at   INTEGER NOT NULL,
    PRIMARY KEY (subnet, address)
);
CREATE INDEX routed_addresses_container ON routed_addresses (container_id);
CREATE INDEX routed_addresses_claimant ON routed_addresses (user_id, name);

CREATE TRIGGER routed_addresses_bind AFTER INSERT ON containers
BEGIN
    UPDATE routed_addresses SET container_id = NEW.id
    WHERE user_id = NEW.user_id AND name = NEW.name AND container_id IS NULL;
END;
