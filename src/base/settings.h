/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every configuration setting strongroom knows, in one table. config.c parses
 * and validates against it, `strongroom init` writes it out as the commented
 * default strongroom.conf, and the README's configuration section follows it.
 *
 * SR_SETTING(section, key, type, default, min, max, help)
 *   type: STR, INT (min..max), BOOL, PATH (relative to the config file's
 *   folder), HOSTPORT ("host:port", IPv6 as "[::1]:port"), or an ENUM given
 *   as "a|b|c" in min (max unused).
 *
 * Sections named after a service ([platform], [vault]) hold what differs
 * between the two; every other section is shared. Each setting can be
 * overridden from the environment as STRONGROOM_<SECTION>_<KEY>.
 */

/* clang-format off */
SR_SETTING(instance, environment, ENUM, "development", "development|production", 0,
	"development relaxes what only a laptop needs (mail to a maildir, SMTP\n"
	"without TLS to loopback); production refuses those shortcuts.")
SR_SETTING(log, level, ENUM, "info", "debug|info|warn|error", 0,
	"Minimum level of the JSON log lines written to stderr.")

SR_SETTING(server, threads, INT, "2", "1", 64,
	"Event-loop threads per service (one event_base each, SO_REUSEPORT).")
SR_SETTING(server, workers, INT, "0", "0", 256,
	"Worker-pool threads for CPU-heavy and database work (0: two per CPU core).")
SR_SETTING(server, worker_queue_max, INT, "4096", "1", 1000000,
	"Jobs waiting for the worker pool before new ones are refused with 503.")
SR_SETTING(server, drain_timeout_ms, INT, "10000", "0", 600000,
	"On SIGTERM, how long in-flight requests may take before connections are closed.")

SR_SETTING(limits, request_line_max, INT, "8192", "64", 1048576,
	"Longest request line (method, target, version); longer is answered 414.")
SR_SETTING(limits, header_bytes_max, INT, "16384", "256", 1048576,
	"Total bytes of request headers; more is answered 431.")
SR_SETTING(limits, header_count_max, INT, "64", "4", 1024,
	"Number of request headers; more is answered 431.")
SR_SETTING(limits, body_max, INT, "1048576", "0", 67108864,
	"Largest request body any route accepts (routes may set lower); more is answered 413.")
SR_SETTING(limits, header_timeout_ms, INT, "10000", "100", 600000,
	"Deadline for a whole request head, from its first byte; past it 408 (slowloris guard).")
SR_SETTING(limits, body_timeout_ms, INT, "30000", "100", 600000,
	"Deadline for a whole request body once the head is read; past it 408.")
SR_SETTING(limits, idle_timeout_ms, INT, "60000", "100", 3600000,
	"How long a keep-alive connection may sit idle between requests.")
SR_SETTING(limits, requests_per_connection, INT, "1000", "1", 1000000,
	"Requests served on one connection before it is closed (Connection: close).")
SR_SETTING(limits, connections_per_ip, INT, "256", "1", 1000000,
	"Open connections from one client address; more are answered 429 and closed.")
SR_SETTING(limits, auth_failures_per_minute, INT, "30", "1", 100000,
	"Failed authentications answered 401 (each one audited) per client address\n"
	"and minute, after a burst of as many; beyond that 429 without an audit write,\n"
	"so nobody can fill the audit log. Per process.")
SR_SETTING(limits, connections_max, INT, "10000", "1", 1000000,
	"Open connections per service in all.")

SR_SETTING(tls, ticket_key_rotation_s, INT, "3600", "60", 86400,
	"How often session-ticket keys rotate; the previous key still decrypts for one period.")

SR_SETTING(database, url, STR, "", 0, 0,
	"When set, overrides the running service's own database_url: use it in a\n"
	"per-service config file. sqlite:PATH or postgresql://...")
SR_SETTING(database, pool_size, INT, "8", "1", 1024,
	"Connections each service keeps open to its database.")
SR_SETTING(database, busy_timeout_ms, INT, "5000", "0", 600000,
	"SQLite busy timeout; PostgreSQL lock_timeout.")
SR_SETTING(database, statement_timeout_ms, INT, "30000", "0", 3600000,
	"PostgreSQL statement_timeout: a statement running longer is cancelled, its\n"
	"transaction rolled back and the request answered 503, so a hung query cannot\n"
	"pin a pooled connection and a worker. 0: no limit. Migrations run without it.\n"
	"SQLite has no equivalent (its statements are local; busy_timeout_ms bounds waits).")

SR_SETTING(platform, listen, HOSTPORT, "127.0.0.1:8443", 0, 0,
	"Address the platform listens on (HTTPS only).")
SR_SETTING(platform, public_url, STR, "https://localhost:8443", 0, 0,
	"The platform's origin as browsers see it.")
SR_SETTING(platform, tls_cert, PATH, "tls/platform.crt", 0, 0,
	"PEM certificate chain of the platform (SIGHUP reloads it).")
SR_SETTING(platform, tls_key, PATH, "tls/platform.key", 0, 0,
	"PEM private key of the platform certificate.")
SR_SETTING(platform, database_url, STR, "sqlite:platform.db", 0, 0,
	"The platform's own database: sqlite:PATH (relative to this file) or postgresql://...")
SR_SETTING(platform, audit_key_file, PATH, "keys/platform-audit.key", 0, 0,
	"32-byte key for the audit log's HMAC (0400).")
SR_SETTING(platform, audit_signing_key_file, PATH, "keys/platform-audit-sign.key", 0, 0,
	"Ed25519 seed that signs audit checkpoints (0400).")
SR_SETTING(platform, audit_checkpoint_file, PATH, "audit/platform.checkpoints", 0, 0,
	"Signed audit-head checkpoints, kept outside the database.")
SR_SETTING(platform, credentials_file, PATH, "credentials.json", 0, 0,
	"JSON file with the API keys the platform accepts (platform_secret_key);\n"
	"written by `strongroom init`; must be readable only by its owner.")
SR_SETTING(platform, personal_data_kek_file, PATH, "keys/platform-pii-kek.key", 0, 0,
	"32-byte key-encryption key (0400) that wraps each member's personal-data key.\n"
	"Losing it loses every member's email, name and profile.")
SR_SETTING(platform, lookup_key_file, PATH, "keys/platform-lookup.key", 0, 0,
	"32-byte key (0400) for the keyed hashes of session ids, CSRF and one-time\n"
	"tokens, email lookups and client addresses stored in the database.")
SR_SETTING(platform, webhook_url, STR, "", 0, 0,
	"HTTPS endpoint of the marketplace's backend that receives signed member events\n"
	"(docs/webhooks.md); empty: events are kept queued until one is set.")
SR_SETTING(platform, webhook_secret_file, PATH, "keys/platform-webhook.key", 0, 0,
	"32-byte secret that signs webhooks to the marketplace (0400).")
SR_SETTING(platform, webhook_ca_file, PATH, "", 0, 0,
	"PEM bundle trusted for webhook_url; empty: the system CAs.")
SR_SETTING(platform, vault_webhook_secret_file, PATH, "keys/vault-webhook.key", 0, 0,
	"The vault's webhook secret: signatures on POST /v1/webhooks/vault are checked with it.")

SR_SETTING(vault, listen, HOSTPORT, "127.0.0.1:8444", 0, 0,
	"Address the vault listens on (HTTPS only).")
SR_SETTING(vault, public_url, STR, "https://localhost:8444", 0, 0,
	"The vault's origin as browsers see it.")
SR_SETTING(vault, tls_cert, PATH, "tls/vault.crt", 0, 0,
	"PEM certificate chain of the vault (SIGHUP reloads it).")
SR_SETTING(vault, tls_key, PATH, "tls/vault.key", 0, 0,
	"PEM private key of the vault certificate.")
SR_SETTING(vault, database_url, STR, "sqlite:vault.db", 0, 0,
	"The vault's own database; never the platform's.")
SR_SETTING(vault, kek_file, PATH, "keys/vault-kek.key", 0, 0,
	"Development key-encryption key (32 bytes, 0400). Production unseals with shares.")
SR_SETTING(vault, kek_source, ENUM, "file", "file|shares", 0,
	"Where the KEK comes from at start: file (kek_file; development) or shares\n"
	"(production): the vault starts sealed and answers 503 vault_sealed until\n"
	"operators unseal it with `strongroom vault unseal` (docs/keys.md).")
SR_SETTING(vault, unseal_attempts_per_minute, INT, "20", "1", 10000,
	"POST /v1/sys/unseal calls per client address and minute (after a burst of\n"
	"as many); beyond that 429. Per process.")
SR_SETTING(vault, audit_key_file, PATH, "keys/vault-audit.key", 0, 0,
	"32-byte key for the vault audit log's HMAC (0400).")
SR_SETTING(vault, audit_signing_key_file, PATH, "keys/vault-audit-sign.key", 0, 0,
	"Ed25519 seed that signs vault audit checkpoints (0400).")
SR_SETTING(vault, audit_checkpoint_file, PATH, "audit/vault.checkpoints", 0, 0,
	"Signed audit-head checkpoints of the vault, kept outside the database.")
SR_SETTING(vault, credentials_file, PATH, "credentials.json", 0, 0,
	"JSON file with the API keys the vault accepts (vault_secret_key,\n"
	"vault_publishable_key); readable only by its owner.")
SR_SETTING(vault, webhook_url, STR, "https://localhost:8443/v1/webhooks/vault", 0, 0,
	"The platform's endpoint for the vault's signed events (asynchronous card\n"
	"outcomes); empty: events are kept queued until one is set.")
SR_SETTING(vault, webhook_secret_file, PATH, "keys/vault-webhook.key", 0, 0,
	"32-byte secret that signs the vault's webhooks (0400); the platform reads the same.")
SR_SETTING(vault, webhook_ca_file, PATH, "tls/ca.crt", 0, 0,
	"PEM bundle trusted for webhook_url; empty: the system CAs.")
SR_SETTING(vault, token_ttl_s, INT, "900", "60", 86400,
	"Seconds a card token (tok_...) stays usable; tokens are single-use.")
SR_SETTING(vault, token_iat_skew_s, INT, "300", "30", 3600,
	"Allowed clock skew of a card JWE's iat, either way; older or newer is refused.")
SR_SETTING(vault, tokens_per_minute_per_key, INT, "1200", "1", 1000000,
	"POST /v1/tokens per publishable key per minute (burst the same); then 429.")
SR_SETTING(vault, tokens_per_minute_per_ip, INT, "30", "1", 1000000,
	"POST /v1/tokens per client address per minute (burst the same); then 429.")
SR_SETTING(vault, tokens_per_minute_per_card, INT, "5", "1", 1000000,
	"Tokenizations of one card (by fingerprint) per minute, against card testing.")
SR_SETTING(vault, processor, ENUM, "sandbox", "sandbox", 0,
	"Card processor connector; the built-in sandbox (docs/sandbox.md) for now.")
SR_SETTING(vault, sandbox_latency_ms, INT, "0", "0", 60000,
	"Simulated latency of each sandbox processor call (0 for benchmarks).")
SR_SETTING(vault, sandbox_async_delay_ms, INT, "2000", "0", 86400000,
	"Delay before a sandbox payout's asynchronous failure or return is delivered.")
SR_SETTING(vault, platform_origins, STR, "https://localhost:8443", 0, 0,
	"Comma-separated exact origins (scheme://host[:port]) whose pages may frame\n"
	"the hosted card form and receive its tokens; http only for loopback hosts.")

SR_SETTING(passwords, memory_kib, INT, "19456", "19456", 4194304,
	"Argon2id memory per password hash in KiB (OWASP minimum 19456 = 19 MiB).\n"
	"Raising it rehashes each password at its next successful login.")
SR_SETTING(passwords, iterations, INT, "2", "2", 64,
	"Argon2id passes over that memory (OWASP minimum 2; libsodium's parallelism is 1).")
SR_SETTING(passwords, max_concurrent_hashes, INT, "0", "0", 1024,
	"Argon2id hashes computed at once; more wait their turn (0: one per CPU core).")
SR_SETTING(passwords, pepper_file, PATH, "keys/password-pepper.key", 0, 0,
	"32-byte secret key (0400), kept outside the database, that keys HMAC-SHA256 over\n"
	"each password before Argon2id, and hashes recovery codes.")

SR_SETTING(sessions, idle_timeout_s, INT, "3600", "1", 604800,
	"A browser session ends after this many seconds without a request.")
SR_SETTING(sessions, absolute_timeout_s, INT, "86400", "1", 2592000,
	"A browser session ends this many seconds after login, active or not.")
SR_SETTING(sessions, reauth_window_s, INT, "900", "1", 86400,
	"Sensitive changes (password, email, phone, MFA, payout methods) need a\n"
	"password/OTP authentication this recent.")

SR_SETTING(accounts, lockout_threshold, INT, "10", "1", 1000,
	"Consecutive failed sign-ins (password, one-time or recovery code) that lock\n"
	"an account (PCI DSS 8.3.4: at most 10).")
SR_SETTING(accounts, lockout_duration_s, INT, "1800", "1", 86400,
	"How long a locked account stays locked (PCI DSS 8.3.4: at least 30 minutes).")
SR_SETTING(accounts, delay_after, INT, "3", "0", 1000,
	"Consecutive failures before each further failed attempt is answered slowly.")
SR_SETTING(accounts, delay_step_ms, INT, "250", "0", 10000,
	"Progressive delay: this, doubled per failure past delay_after (at most 4 s).")
SR_SETTING(accounts, ip_failures_per_hour, INT, "100", "1", 1000000,
	"Failed sign-ins and code checks, sign-ups and reset requests one client address\n"
	"may make per hour (counted in the database, across instances) before it gets 429.")
SR_SETTING(accounts, verification_ttl_s, INT, "86400", "60", 2592000,
	"How long an email-verification code stays valid.")
SR_SETTING(accounts, reset_ttl_s, INT, "1800", "60", 86400,
	"How long a password-reset code stays valid.")

SR_SETTING(audit, checkpoint_interval_s, INT, "60", "1", 86400,
	"How often each service appends a signed checkpoint of its audit head.")

SR_SETTING(email, smtp_url, STR, "", 0, 0,
	"Where mail is sent: smtp://host:587 (STARTTLS required) or smtps://host:465.\n"
	"Empty: development maildir ([email] maildir). Plain SMTP is allowed only to a\n"
	"loopback address in development.")
SR_SETTING(email, from, STR, "strongroom <no-reply@localhost>", 0, 0,
	"From of every message; its domain must be one of official_domains.")
SR_SETTING(email, official_domains, STR, "localhost", 0, 0,
	"Comma-separated domains genuine messages come from (members are told these).")
SR_SETTING(email, dkim_domain, STR, "localhost", 0, 0,
	"DKIM d= domain; the public key is published at SELECTOR._domainkey.DOMAIN.")
SR_SETTING(email, dkim_selector, STR, "strongroom", 0, 0,
	"DKIM s= selector (init writes the TXT record to dkim-dns.txt).")
SR_SETTING(email, dkim_key_file, PATH, "keys/dkim-rsa.key", 0, 0,
	"PEM RSA-2048 private key for rsa-sha256 DKIM signatures (0400).")
SR_SETTING(email, dkim_ed25519_key_file, PATH, "", 0, 0,
	"PEM Ed25519 private key for a second, ed25519-sha256 signature, published under\n"
	"selector DKIM_SELECTOR-ed25519; empty: off.")
SR_SETTING(email, smtp_ca_file, PATH, "", 0, 0,
	"PEM CA bundle that verifies the SMTP server; empty: the system CAs.")
SR_SETTING(email, smtp_timeout_ms, INT, "10000", "100", 600000,
	"Deadline for one SMTP delivery (connect, TLS, transfer).")
SR_SETTING(email, maildir, PATH, "mail", 0, 0,
	"Development sink when smtp_url is empty: messages land in DIR/new/ (Maildir).")

SR_SETTING(sms, api_base, STR, "", 0, 0,
	"Twilio-compatible API origin, e.g. https://api.twilio.com; empty: development\n"
	"file ([sms] sms_file).")
SR_SETTING(sms, account_sid, STR, "", 0, 0,
	"Account SID (the user name of HTTP basic auth, and part of the path).")
SR_SETTING(sms, auth_token_file, PATH, "", 0, 0,
	"File holding the auth token (0400); never logged.")
SR_SETTING(sms, from, STR, "", 0, 0,
	"Sender number in E.164 form (+15005550006).")
SR_SETTING(sms, sms_file, PATH, "sms.log", 0, 0,
	"Development sink: one JSON line per text message.")
SR_SETTING(notify, retry_base_ms, INT, "30000", "1", 86400000,
	"First retry delay of a notification that failed temporarily; it doubles per\n"
	"attempt up to retry_max_ms.")
SR_SETTING(notify, retry_max_ms, INT, "3600000", "1", 86400000,
	"Longest delay between two delivery attempts of one notification.")
SR_SETTING(notify, retry_window_s, INT, "86400", "1", 2592000,
	"How long a notification is retried before it is marked failed (alert metric).")
SR_SETTING(notify, lease_s, INT, "120", "1", 3600,
	"How long a delivery worker holds a claimed notification; after that (a crashed\n"
	"instance) another worker takes it over.")
SR_SETTING(notify, batch, INT, "16", "1", 1000,
	"Notifications one delivery worker claims at a time.")
SR_SETTING(notify, poll_ms, INT, "1000", "10", 600000,
	"How often an idle delivery worker looks for due notifications.")
SR_SETTING(notify, verify_per_minute, INT, "10", "1", 100000,
	"POST /v1/messages/verify checks allowed per client address and minute (burst up\n"
	"to 10); more get 429, so references cannot be guessed in bulk.")
SR_SETTING(webhooks, timeout_ms, INT, "10000", "100", 600000,
	"Deadline of one webhook delivery attempt (connect, send, answer).")
SR_SETTING(webhooks, retry_base_ms, INT, "30000", "1", 86400000,
	"First retry delay of a webhook the receiver did not accept (non-2xx or no\n"
	"answer); it doubles per attempt up to retry_max_ms.")
SR_SETTING(webhooks, retry_max_ms, INT, "3600000", "1", 86400000,
	"Longest delay between two attempts of one webhook.")
SR_SETTING(webhooks, retry_window_s, INT, "259200", "1", 2592000,
	"How long a webhook is retried before it is marked failed (alert metric).")
SR_SETTING(webhooks, lease_s, INT, "60", "1", 3600,
	"How long a sender holds a claimed webhook before another instance may take it.")
SR_SETTING(webhooks, poll_ms, INT, "1000", "10", 600000,
	"How often an idle webhook sender looks for due events.")
/* clang-format on */
