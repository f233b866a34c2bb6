-- Marketplace settlements (payouts), one per channel and settlement id: the
-- identity is the settlement's own id, never a report id (Amazon can issue
-- several reports for one settlement), so importing it again changes
-- nothing. Amounts are exact decimal text in the settlement's currency;
-- times are ms from the hub's clock. `summary` is the reconciled figures as
-- JSON (categories, orders, tax, reserve) so `show` reads one row.
-- `status`: imported, then posted (every journal planned is in the ERP),
-- then deposited (matched to the bank line).
CREATE TABLE settlements (
    id               TEXT     PRIMARY KEY,
    channel          TEXT     NOT NULL,
    settlement_id    TEXT     NOT NULL,
    format           TEXT     NOT NULL,
    currency         TEXT     NOT NULL,
    deposit_total    TEXT     NOT NULL,
    starts_at        INTEGER,
    ends_at          INTEGER,
    deposit_date     TEXT,
    current_reserve  TEXT,
    status           TEXT     NOT NULL,
    summary          TEXT     NOT NULL,
    row_count        INTEGER  NOT NULL,
    imported_at      INTEGER  NOT NULL,
    posted_at        INTEGER,
    deposited_at     INTEGER,
    UNIQUE (channel, settlement_id)
);
CREATE INDEX settlements_channel ON settlements (channel, ends_at, imported_at);

-- A settlement's rows as classified (the source line, the row's key, its
-- order, its amount): for `show --csv`. Written in multi-row chunks inside
-- the import's one transaction.
CREATE TABLE settlement_rows (
    settlement  TEXT     NOT NULL,
    seq         INTEGER  NOT NULL,
    line        INTEGER  NOT NULL,
    category    TEXT     NOT NULL,
    row_key     TEXT     NOT NULL,
    order_ref   TEXT,
    amount      TEXT     NOT NULL,
    PRIMARY KEY (settlement, seq)
) WITHOUT ROWID;

-- Which settlement carried each channel order's sale or refund, so a refund
-- finds the settlement that sold its order (often an earlier one).
CREATE TABLE settlement_orders (
    channel     TEXT  NOT NULL,
    order_ref   TEXT  NOT NULL,
    settlement  TEXT  NOT NULL,
    role        TEXT  NOT NULL,
    PRIMARY KEY (channel, order_ref, settlement, role)
) WITHOUT ROWID;

-- Every amount that did not match (unmapped type, order not found, amount
-- differs from the invoice, reserve gap, payout sum mismatch), open until
-- an operator resolves it (mapped, matched or written off, by whom, when
-- and why). Categories + residuals = deposit, always.
CREATE TABLE settlement_residuals (
    id           TEXT     PRIMARY KEY,
    settlement   TEXT     NOT NULL,
    seq          INTEGER  NOT NULL,
    line         INTEGER,
    row_key      TEXT,
    order_ref    TEXT,
    amount       TEXT     NOT NULL,
    reason       TEXT     NOT NULL,
    detail       TEXT     NOT NULL,
    status       TEXT     NOT NULL,
    resolution   TEXT,
    resolved_by  TEXT,
    resolved_at  INTEGER,
    note         TEXT,
    created_at   INTEGER  NOT NULL
);
CREATE INDEX settlement_residuals_settlement ON settlement_residuals (settlement, seq);
CREATE INDEX settlement_residuals_status ON settlement_residuals (status, created_at);

-- The balanced journals a settlement is posted as (one per month it spans,
-- then one delta per resolved residual), planned with the import or the
-- resolution and marked posted by the job that posted it (an effect keyed
-- by `reference`, the ERP's way to find it again after a crash).
CREATE TABLE settlement_journals (
    reference    TEXT     PRIMARY KEY,
    settlement   TEXT     NOT NULL,
    seq          INTEGER  NOT NULL,
    journal      TEXT     NOT NULL,
    erp_id       TEXT,
    posted_at    INTEGER,
    created_at   INTEGER  NOT NULL
);
CREATE INDEX settlement_journals_settlement ON settlement_journals (settlement, seq);
