-- The vault's key hierarchy (src/vault/keyring.c, docs/keys.md).
-- No unwrapped key is ever stored: data keys and RSA private keys are
-- AES-256-GCM envelopes under the KEK (src/crypto/envelope.h), and each row
-- records which KEK version wraps it so that a re-wrap can resume.

-- One row, the lock every key-ring change takes first (SELECT ... FOR
-- UPDATE): the KEK version in force (0 until the first open) and, while a
-- re-wrap to a new KEK runs, the version it moves to.
CREATE TABLE vault_keyring (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  kek_version BIGINT NOT NULL,
  rewrap_to BIGINT,
  updated_at TEXT NOT NULL
);
INSERT INTO vault_keyring (id, kek_version, rewrap_to, updated_at)
  VALUES (1, 0, NULL, '1970-01-01T00:00:00Z');

-- A verification value per KEK version: HMAC-SHA256(KEK, fixed label), so
-- a wrong KEK is refused before any key is touched.
CREATE TABLE vault_keks (
  version BIGINT PRIMARY KEY,
  check_value {{BLOB}} NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE vault_data_keys (
  id TEXT PRIMARY KEY,
  version BIGINT NOT NULL UNIQUE,
  wrapped_key {{BLOB}} NOT NULL,
  kek_version BIGINT NOT NULL REFERENCES vault_keks (version),
  state TEXT NOT NULL CHECK (state IN ('active', 'retired')),
  created_at TEXT NOT NULL,
  retired_at TEXT
);
-- At most one active data key, whatever the application does.
CREATE UNIQUE INDEX vault_data_keys_one_active ON vault_data_keys (state) WHERE state = 'active';

CREATE TABLE vault_rsa_keys (
  kid TEXT PRIMARY KEY,
  public_key {{BLOB}} NOT NULL,
  wrapped_private_key {{BLOB}} NOT NULL,
  kek_version BIGINT NOT NULL REFERENCES vault_keks (version),
  state TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
  created_at TEXT NOT NULL,
  retire_after TEXT
);
CREATE UNIQUE INDEX vault_rsa_keys_one_active ON vault_rsa_keys (state) WHERE state = 'active';
