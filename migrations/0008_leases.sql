-- Leases and automatic stops: when a container's lease runs out (unix
-- seconds; NULL: no lease), and why and when the gateway last stopped it
-- ('idle' or 'expired'; NULL once started again).
ALTER TABLE containers ADD COLUMN lease_until INTEGER;
ALTER TABLE containers ADD COLUMN stop_reason TEXT CHECK (stop_reason IN ('idle', 'expired'));
ALTER TABLE containers ADD COLUMN stopped_at INTEGER;
