-- Card tokens (src/vault/tokens.c, docs/vault.md). The card itself is only
-- ever stored sealed (sealed_card: AES-256-GCM under a key-ring data key,
-- AAD = the token id); in clear: brand, the first 6 and last 4 digits, the
-- expiry and the keyed fingerprint. Never a PAN, never a CVC.
CREATE TABLE vault_tokens (
  id TEXT PRIMARY KEY,
  sealed_card {{BLOB}} NOT NULL,
  brand TEXT NOT NULL,
  bin6 TEXT NOT NULL,
  last4 TEXT NOT NULL,
  exp_month INTEGER NOT NULL,
  exp_year INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  cvc_check TEXT NOT NULL,
  api_key_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_s BIGINT NOT NULL,
  expires_s BIGINT NOT NULL,
  used_s BIGINT,
  used_by TEXT
);
CREATE INDEX vault_tokens_expires ON vault_tokens (expires_s);

-- Replay protection: every card-JWE nonce the vault accepted for
-- processing, kept for longer than the iat window, after which a replay is
-- refused by its iat anyway.
CREATE TABLE vault_token_nonces (
  nonce TEXT PRIMARY KEY,
  seen_s BIGINT NOT NULL
);
CREATE INDEX vault_token_nonces_seen ON vault_token_nonces (seen_s);

-- The fingerprint key (HMAC-SHA256 of the PAN), one per vault database so
-- that every instance computes the same fingerprints. Stored sealed with the
-- key ring (AAD "vault_fingerprint_key"): the KEK's custody covers it, a
-- KEK re-wrap or data-key rotation leaves it readable, and it never changes
-- (fingerprints must stay comparable).
CREATE TABLE vault_fingerprint_key (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  sealed_key {{BLOB}} NOT NULL,
  created_at TEXT NOT NULL
);
