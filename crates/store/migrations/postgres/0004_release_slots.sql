-- A warehouse's daily capacity, as slots: one counter per warehouse and day
-- (the day's first millisecond, UTC), and one row per release that took a
-- slot. A slot is taken by the guarded UPDATE (used < capacity) in the same
-- transaction as its row, so two orders deciding at once cannot both take
-- the last one; a release that asks again finds its row and takes nothing.
CREATE TABLE release_slot_days (
    warehouse  TEXT    NOT NULL,
    day        BIGINT  NOT NULL,
    used       BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (warehouse, day)
);

CREATE TABLE release_slots (
    request_id  TEXT    PRIMARY KEY,
    warehouse   TEXT    NOT NULL,
    day         BIGINT  NOT NULL
);
