-- Order rules read a customer's history and the orders to one address:
-- the columns those lookups filter on, beside the order document.
ALTER TABLE orders ADD COLUMN customer_key TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN ship_to_key TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN placed_at BIGINT NOT NULL DEFAULT 0;
-- Orders stored before: the e-mail and the time come from the document.
-- Their address key needs the hub's normalisation, so they are left out of
-- address counts (an empty key matches nothing).
UPDATE orders SET
    customer_key = lower(trim(COALESCE(doc::jsonb #>> '{customer,email}', ''))),
    placed_at = (extract(epoch FROM (doc::jsonb ->> 'placed_at')::timestamptz) * 1000)::bigint;
CREATE INDEX orders_customer ON orders (customer_key, placed_at);
CREATE INDEX orders_ship_to ON orders (ship_to_key, placed_at);
