-- Transactional outbox of member notifications (platform/notify/outbox.c).
-- A row is inserted in the same transaction as the event it reports and
-- sent later by the delivery job (delivery.c). Times are RFC 3339 UTC with
-- milliseconds, fixed width, so text order is time order.
CREATE TABLE outbox (
	id TEXT PRIMARY KEY,                 -- ntf_...; also the stable Message-ID
	dedup_key TEXT NOT NULL UNIQUE,      -- <event>:<object id>:<channel>
	channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
	member_id TEXT,                      -- usr_..., resolves the anti-phishing code
	recipient TEXT NOT NULL,             -- address / E.164 (see docs/notifications.md)
	template TEXT NOT NULL,
	variables TEXT NOT NULL,             -- JSON, masked values only
	reference TEXT NOT NULL UNIQUE,      -- msg_..., shown to the member
	state TEXT NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	lease_owner TEXT,
	lease_until TEXT,
	provider_id TEXT,
	last_error TEXT,
	created_at TEXT NOT NULL,
	sent_at TEXT
);
-- The claim query: due rows in order.
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
