-- Member accounts, their personal-data keys, browser sessions, one-time
-- tokens and brute-force counters (src/platform/accounts.c, auth.c, pii.c;
-- docs/accounts.md). Times are RFC 3339 UTC with milliseconds, fixed width,
-- so text order is time order. Keyed hashes are lower-case hex of
-- HMAC-SHA256 under subkeys of [platform] lookup_key_file: a stolen
-- database alone cannot be searched for an address or replay a session.
--
-- No personal data in the clear here: the email address and the name are
-- sealed (AES-256-GCM, src/crypto/envelope) under the member's own data key
-- (member_keys), with the user id and the field name as associated data.
-- Deleting the member_keys row shreds them: the ciphertexts remain, nobody
-- can open them. The profile (phone, address, anti-phishing code, TOTP,
-- recovery codes, preferences) lives in member_profile, created by the
-- profile migrations; only the name, received at sign-up, lives here.
CREATE TABLE users (
	id TEXT PRIMARY KEY,                  -- usr_ + 32 hex
	role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'reviewer', 'admin')),
	state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deleted')),
	email_lookup TEXT NOT NULL UNIQUE,    -- keyed hash of the normalised address
	email_sealed {{BLOB}} NOT NULL,       -- envelope under the member key, AAD id|email
	name_sealed {{BLOB}} NOT NULL,        -- envelope under the member key, AAD id|name
	email_verified INTEGER NOT NULL DEFAULT 0,
	email_verified_at TEXT,
	password_hash TEXT NOT NULL,          -- crypto/password: sr1$p<pepper>$argon2id...
	password_changed_at TEXT NOT NULL,
	failed_logins INTEGER NOT NULL DEFAULT 0, -- consecutive; reset by a success
	last_failed_at TEXT,
	locked_until TEXT,                    -- NULL or a time; locked while in the future
	created_at TEXT NOT NULL,
	deleted_at TEXT
);

-- One data key per member, wrapped (envelope blob) by the platform's
-- personal-data KEK with AAD "member_key|<user id>".
CREATE TABLE member_keys (
	user_id TEXT PRIMARY KEY REFERENCES users (id),
	wrapped {{BLOB}} NOT NULL,
	created_at TEXT NOT NULL
);

-- Server-side browser sessions. The cookie value is never stored: token_hash
-- is its keyed hash, csrf_hash the keyed hash of the CSRF token. id (ses_)
-- is the public handle shown in GET /v1/sessions.
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	token_hash TEXT NOT NULL UNIQUE,
	user_id TEXT NOT NULL REFERENCES users (id),
	csrf_hash TEXT NOT NULL,
	created_at TEXT NOT NULL,
	last_seen_at TEXT NOT NULL,
	auth_time TEXT NOT NULL,              -- last password/OTP authentication
	amr TEXT NOT NULL DEFAULT 'pwd',      -- 'pwd' or 'pwd otp'
	restricted INTEGER NOT NULL DEFAULT 0, -- staff without a second factor: MFA set-up only
	ip TEXT NOT NULL,
	user_agent TEXT NOT NULL,             -- cut to 256 bytes
	device_hash TEXT NOT NULL,            -- keyed hash of user id | user agent
	revoked_at TEXT,
	revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Devices a member signed in from before (login from a new one sends mail).
CREATE TABLE known_devices (
	user_id TEXT NOT NULL REFERENCES users (id),
	device_hash TEXT NOT NULL,
	first_seen_at TEXT NOT NULL,
	last_seen_at TEXT NOT NULL,
	PRIMARY KEY (user_id, device_hash)
);

-- Single-use codes mailed to the member, stored as keyed hashes only.
CREATE TABLE account_tokens (
	token_hash TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id),
	purpose TEXT NOT NULL CHECK (purpose IN ('email_verification', 'password_reset')),
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at TEXT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- Failed-authentication counters per client address (keyed hash of the IP)
-- in fixed windows, shared by every instance through the database.
CREATE TABLE auth_failures (
	subject TEXT PRIMARY KEY,             -- 'ip:' + keyed hash
	window_start TEXT NOT NULL,
	failures INTEGER NOT NULL DEFAULT 0
);
