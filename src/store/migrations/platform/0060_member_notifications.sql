-- The member-facing side of notifications (src/platform/events.c,
-- messages.c, notify_prefs.c, vault_webhooks.c; docs/notifications.md).
-- Times are RFC 3339 UTC with milliseconds, fixed width.

-- What a member chose. Money and security email cannot be turned off, so
-- the only choice is SMS for transaction events, honoured only while the
-- member's phone (member_profile) is verified.
CREATE TABLE notification_prefs (
	user_id TEXT PRIMARY KEY REFERENCES users (id),
	sms_enabled INTEGER NOT NULL DEFAULT 0 CHECK (sms_enabled IN (0, 1)),
	updated_at TEXT NOT NULL
);

-- In-app messages are the outbox rows themselves (same reference as the
-- email): GET /v1/messages reads a member's rows newest first.
CREATE INDEX outbox_member ON outbox (member_id, created_at);

-- Vault webhooks already processed (POST /v1/webhooks/vault): the event id
-- is the deduplication key, inserted in the transaction that records the
-- member event, so a redelivered webhook changes nothing.
CREATE TABLE vault_webhook_receipts (
	event_id TEXT PRIMARY KEY,            -- evt_... as the vault sent it
	type TEXT NOT NULL,                   -- payout.paid, charge.succeeded, ...
	outcome TEXT NOT NULL CHECK (outcome IN ('notified', 'ignored')),
	received_at TEXT NOT NULL
);
