-- The member profile and the second factor (src/platform/profile.c, mfa.c;
-- docs/profile.md). Accounts (0040) holds the identity: users, the sealed
-- email and name, and member_keys, the per-member data key.
--
-- Every personal value here is an envelope blob (src/crypto/envelope via
-- src/platform/pii.h) sealed under the member's own data key with
-- "<user id>|<field>" as associated data. When the member deletes the
-- account, member_keys loses its row (crypto-shredding): these blobs stay,
-- in the database and in every backup, and nobody can open them again.
-- Times are RFC 3339 UTC with milliseconds.
CREATE TABLE member_profile (
	user_id TEXT PRIMARY KEY REFERENCES users (id),
	phone_sealed {{BLOB}},                -- E.164 number (field "phone"); NULL: none
	phone_verified INTEGER NOT NULL DEFAULT 0, -- 1 once the SMS code came back
	phone_verified_at TEXT,
	phone_code_sealed {{BLOB}},           -- pending SMS code (field "phone_code"); NULL: none
	phone_code_expires_at TEXT,
	phone_code_attempts INTEGER NOT NULL DEFAULT 0,
	anti_phishing_sealed {{BLOB}},        -- field "anti_phishing_code"
	address_sealed {{BLOB}},              -- JSON object (field "address")
	date_of_birth_sealed {{BLOB}},        -- YYYY-MM-DD (field "date_of_birth")
	citizenship_sealed {{BLOB}},          -- ISO 3166-1 alpha-2 (field "citizenship")
	updated_at TEXT NOT NULL
);

-- TOTP (RFC 6238). The 20-byte secret is sealed under the member key
-- (field "totp_secret"). 'pending' between POST /v1/mfa/totp and its
-- confirmation; only 'enabled' rows guard logins. last_used_step is the
-- time step of the last accepted code: a step at or below it is a replay.
CREATE TABLE mfa_totp (
	user_id TEXT PRIMARY KEY REFERENCES users (id),
	secret_sealed {{BLOB}} NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('pending', 'enabled')),
	last_used_step BIGINT NOT NULL DEFAULT -1,
	created_at TEXT NOT NULL,
	enabled_at TEXT
);

-- Recovery codes: HMAC-SHA256 under the password pepper (crypto/recovery.h),
-- never the codes. A used code keeps its row with used_at set.
CREATE TABLE mfa_recovery_codes (
	user_id TEXT NOT NULL REFERENCES users (id),
	idx INTEGER NOT NULL,
	code_hash {{BLOB}} NOT NULL,
	created_at TEXT NOT NULL,
	used_at TEXT,
	PRIMARY KEY (user_id, idx)
);
