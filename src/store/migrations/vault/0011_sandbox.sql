-- The sandbox processor's own state (src/vault/sandbox.c, docs/sandbox.md),
-- kept in the vault database so that it survives restarts like a real
-- processor's would: one row per money-moving operation, by OUR operation id
-- (a repeated id returns the first outcome), and the asynchronous outcomes
-- it has scheduled (delivered once, in the transaction of the vault's sink).
CREATE TABLE sandbox_operations (
  op_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('charge', 'payout')),
  amount BIGINT NOT NULL,
  currency TEXT NOT NULL,
  last4 TEXT NOT NULL,
  status TEXT NOT NULL,
  code TEXT NOT NULL,
  reference TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE sandbox_events (
  op_id TEXT PRIMARY KEY REFERENCES sandbox_operations (op_id),
  kind TEXT NOT NULL,
  code TEXT NOT NULL,
  due_ms BIGINT NOT NULL,
  delivered_ms BIGINT
);
CREATE INDEX sandbox_events_due ON sandbox_events (delivered_ms, due_ms);
