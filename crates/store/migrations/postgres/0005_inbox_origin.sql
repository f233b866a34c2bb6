-- How a message reached the hub: 'delivered' (a webhook, or a file a
-- connector read: only a trigger where the channel says so, read again
-- from its API) or 'polled' (the hub read the order's current state from
-- the channel itself, so reading it again would only spend rate limit).
ALTER TABLE inbox ADD COLUMN origin TEXT NOT NULL DEFAULT 'delivered';
-- Before the column, polled messages were told apart by their key.
UPDATE inbox SET origin = 'polled' WHERE message_key LIKE 'poll:%';
-- A message held back by its channel looks at the others of its order.
CREATE INDEX inbox_entity ON inbox (entity_key, id);
