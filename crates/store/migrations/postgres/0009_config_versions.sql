-- Every configuration a hub ran or was asked to run: the SHA-256 (hex) of
-- its canonical form with secrets left out, so two hubs running the same
-- file record the same hash and a rotated secret alone is no new version.
-- `who` is the OS user (or `--as NAME`) at start and on SIGHUP; `triggered_by`
-- is start or sighup; `outcome` is applied or refused, and a refusal
-- keeps its reason (the old configuration kept running). Times are ms.
CREATE TABLE config_versions (
    id        BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT   NOT NULL,
    hub_id    TEXT     NOT NULL,
    hash      TEXT     NOT NULL,
    who       TEXT     NOT NULL,
    triggered_by TEXT  NOT NULL,
    outcome   TEXT     NOT NULL,
    reason    TEXT
);
CREATE INDEX config_versions_at ON config_versions (at);
