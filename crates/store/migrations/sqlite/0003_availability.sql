-- What each channel shows for each SKU, and what it is owed. A row with a
-- target is an availability push not yet acknowledged: the durable outbox of
-- the availability sync. 'published' is what the channel last acknowledged.
CREATE TABLE channel_availability (
    channel          TEXT    NOT NULL,
    sku              TEXT    NOT NULL,
    published        INTEGER,
    target           INTEGER,
    cadence          TEXT,
    changed_at       INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    acked_at         INTEGER,
    last_lag_ms      INTEGER,
    last_error       TEXT,
    PRIMARY KEY (channel, sku)
);
CREATE INDEX channel_availability_owed ON channel_availability (channel, next_attempt_at)
    WHERE target IS NOT NULL;

-- Stock reports the hub received and did not apply (a source that is not the
-- location's authority): kept for operators, never silently dropped.
CREATE TABLE stock_reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sku          TEXT    NOT NULL,
    location     TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    on_hand      INTEGER NOT NULL,
    as_of        INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    note         TEXT    NOT NULL
);
CREATE INDEX stock_reports_sku ON stock_reports (sku, id);
