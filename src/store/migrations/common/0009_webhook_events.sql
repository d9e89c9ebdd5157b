-- Outgoing signed webhooks (src/svc/webhook.c), in both services' databases:
-- the vault queues card outcomes for the platform, the platform queues
-- member events for the marketplace. A row is inserted in the same
-- transaction as the change it reports and delivered later, at least once,
-- by the sender thread. payload is the exact body that is signed and sent.
-- Times are RFC 3339 UTC with milliseconds (fixed width: text order is time
-- order).
CREATE TABLE webhook_events (
	id TEXT PRIMARY KEY,                 -- evt_..., the receiver's dedup key
	type TEXT NOT NULL,                  -- e.g. payout.failed
	payload TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	lease_owner TEXT,
	lease_until TEXT,
	last_status INTEGER,                 -- HTTP status of the last attempt
	last_error TEXT,
	created_at TEXT NOT NULL,
	sent_at TEXT
);
CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt_at);
