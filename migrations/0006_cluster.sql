-- Cluster placement: the cluster group a user's containers may go to
-- (NULL: the configured default, any member).
ALTER TABLE quotas ADD COLUMN hosts TEXT;
