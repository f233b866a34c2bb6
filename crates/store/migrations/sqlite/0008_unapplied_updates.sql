-- Updates a system sent about data another system is the record of
-- (`[authority]`): a channel's cancellation of an order the hub owns, a
-- warehouse's shipment for an order released elsewhere. Kept, never
-- applied, never dropped. (Stock rows keep their own detail in
-- `stock_reports`.) `entity_key` is the order's timeline key; `inbox_id`
-- the message the update came in, so its body can be read again.
CREATE TABLE unapplied_updates (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    kind         TEXT     NOT NULL,
    source       TEXT     NOT NULL,
    authority    TEXT     NOT NULL,
    entity_key   TEXT     NOT NULL,
    inbox_id     INTEGER,
    note         TEXT     NOT NULL,
    received_at  INTEGER  NOT NULL
);
CREATE INDEX unapplied_updates_kind ON unapplied_updates (kind, id);
