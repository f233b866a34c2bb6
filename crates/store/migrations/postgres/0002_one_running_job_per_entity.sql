-- At most one running job per entity, whatever races between hub processes
-- sharing the store: a claim that would break it fails and is tried again.
CREATE UNIQUE INDEX jobs_one_running ON jobs (entity_key) WHERE status = 'running';
