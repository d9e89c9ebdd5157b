-- Stored cards, charges, payouts and idempotency keys of the vault
-- (src/vault/cards_api.c, payments.c, idempotency.c; docs/payments.md).
-- A card is kept only sealed (AES-256-GCM under a key-ring data key, AAD =
-- the row's id); in clear: brand, first 6 / last 4 digits, expiry and the
-- keyed fingerprint. Never a PAN, never a CVC.

CREATE TABLE vault_cards (
  id TEXT PRIMARY KEY,
  sealed_card {{BLOB}},            -- NULL once the card is deleted
  brand TEXT NOT NULL,
  bin6 TEXT NOT NULL,
  last4 TEXT NOT NULL,
  exp_month INTEGER NOT NULL,
  exp_year INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  api_key_id TEXT NOT NULL,
  created_s BIGINT NOT NULL,
  deleted_s BIGINT
);
CREATE INDEX vault_cards_fingerprint ON vault_cards (fingerprint);

-- One row per charge or payout. The row is written as 'pending', with the
-- card sealed under the operation id, BEFORE the processor is called (the
-- id is the processor's deduplication key); the outcome is written in a
-- second transaction that also drops the sealed copy. A crash in between
-- leaves a pending row that the start-up recovery pass re-drives.
CREATE TABLE vault_operations (
  id TEXT PRIMARY KEY,                 -- ch_... or po_...
  kind TEXT NOT NULL CHECK (kind IN ('charge', 'payout')),
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'paid', 'returned')),
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  description TEXT,
  metadata TEXT NOT NULL,              -- JSON object of strings
  card_id TEXT,                        -- NULL for a charge paid with a token
  token_id TEXT,
  brand TEXT NOT NULL,
  last4 TEXT NOT NULL,
  exp_month INTEGER NOT NULL,
  exp_year INTEGER NOT NULL,
  sealed_card {{BLOB}},                -- only while pending
  failure_code TEXT,
  processor_reference TEXT,
  api_key_id TEXT NOT NULL,
  idem_scope TEXT,                     -- the Idempotency-Key it answers, if any
  idem_key TEXT,
  created_s BIGINT NOT NULL,
  updated_s BIGINT NOT NULL
);
CREATE INDEX vault_operations_status ON vault_operations (status);

-- Idempotency-Key records (src/vault/idempotency.h): per API key, the hash
-- of the request that first used the key and, once answered, the stored
-- response (status + exact body). Kept 24 hours.
CREATE TABLE vault_idempotency_keys (
  scope TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
  response_status INTEGER,
  response_body TEXT,
  created_s BIGINT NOT NULL,
  expires_s BIGINT NOT NULL,
  PRIMARY KEY (scope, idem_key)
);
CREATE INDEX vault_idempotency_keys_expires ON vault_idempotency_keys (expires_s);
