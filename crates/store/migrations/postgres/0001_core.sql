-- Core tables of the hub on PostgreSQL. Times are milliseconds since the Unix
-- epoch from the hub's injected clock; documents are canonical JSON.

CREATE TABLE inbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          TEXT    NOT NULL,
    message_key     TEXT    NOT NULL,
    entity_key      TEXT,
    source_version  BIGINT,
    status          TEXT    NOT NULL,
    duplicates      BIGINT NOT NULL DEFAULT 0,
    received_at     BIGINT NOT NULL,
    body            BYTEA   NOT NULL,
    note            TEXT,
    UNIQUE (source, message_key)
);


CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_key   TEXT    NOT NULL,
    step         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX jobs_runnable ON jobs (status, run_at);
CREATE INDEX jobs_entity ON jobs (entity_key, id);

CREATE TABLE orders (
    id              TEXT    PRIMARY KEY,
    channel         TEXT    NOT NULL,
    external_id     TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    source_version  BIGINT NOT NULL,
    doc             TEXT    NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_status ON orders (status, updated_at);
CREATE INDEX orders_channel ON orders (channel, updated_at);

CREATE TABLE shipments (
    id            TEXT    PRIMARY KEY,
    order_id      TEXT    NOT NULL,
    doc           TEXT    NOT NULL,
    confirmed_at  BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX shipments_order ON shipments (order_id);

CREATE TABLE effects (
    key          TEXT    PRIMARY KEY,
    target       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    entity_key   TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    prev_status  TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    result       TEXT,
    created_at   BIGINT NOT NULL,
    resolved_at  BIGINT
);
CREATE INDEX effects_entity ON effects (entity_key);

CREATE TABLE exceptions (
    id            TEXT    PRIMARY KEY,
    job_id        BIGINT NOT NULL,
    entity_key    TEXT    NOT NULL,
    channel       TEXT,
    step          TEXT    NOT NULL,
    class         TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    replayed_at   BIGINT,
    replay_count  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX exceptions_status ON exceptions (status, created_at);

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_key  TEXT    NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT    NOT NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX events_entity ON events (entity_key, id);

CREATE TABLE inventory_positions (
    sku       TEXT    NOT NULL,
    location  TEXT    NOT NULL,
    on_hand   BIGINT NOT NULL,
    reserved  BIGINT NOT NULL DEFAULT 0,
    source    TEXT    NOT NULL,
    as_of     BIGINT NOT NULL,
    PRIMARY KEY (sku, location)
);

CREATE TABLE reservations (
    order_id  TEXT    NOT NULL,
    line_id   TEXT    NOT NULL,
    sku       TEXT    NOT NULL,
    location  TEXT    NOT NULL,
    quantity  BIGINT NOT NULL,
    state     TEXT    NOT NULL,
    PRIMARY KEY (order_id, line_id)
);

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
