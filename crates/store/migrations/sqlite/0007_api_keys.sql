-- API keys. The secret is never stored: only its SHA-256 (lower-case hex),
-- so a copy of the database lets no one call the API. A name is unique
-- among live keys, so a revoked key's name can be given to its successor.
-- `scopes` is a comma-separated list (read, operate, admin). Times are ms.
CREATE TABLE api_keys (
    id             TEXT     PRIMARY KEY,
    name           TEXT     NOT NULL,
    secret_sha256  TEXT     NOT NULL UNIQUE,
    scopes         TEXT     NOT NULL,
    rate_per_sec   INTEGER,
    daily_quota    INTEGER,
    expires_at     INTEGER,
    created_at     INTEGER  NOT NULL,
    revoked_at     INTEGER
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

-- Requests per key and day (the day's first millisecond, UTC), added by
-- every hub that serves the key, for its daily quota.
CREATE TABLE api_key_usage (
    key_id    TEXT     NOT NULL,
    day       INTEGER  NOT NULL,
    requests  INTEGER  NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);

-- Every write through the API, with the name of the key that made it.
CREATE TABLE api_audit (
    id        INTEGER  PRIMARY KEY AUTOINCREMENT,
    at        INTEGER  NOT NULL,
    key_name  TEXT     NOT NULL,
    method    TEXT     NOT NULL,
    path      TEXT     NOT NULL,
    route     TEXT     NOT NULL,
    status    INTEGER  NOT NULL
);
CREATE INDEX api_audit_key ON api_audit (key_name, id);
