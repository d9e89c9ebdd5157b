-- No personal data and no one-time secret in clear in the outbox
-- (platform/notify/outbox.c, platform/events.c; docs/notifications.md).
--
-- A member's row keeps recipient = '' and stores instead:
--   recipient_sealed  an explicit recipient (the pending phone number of a
--                     phone verification, the old address told of an email
--                     change, the new address being verified), sealed
--                     under the member's data key (pii field
--                     "outbox_recipient", bound to the row's dedup_key);
--                     NULL: the member's CURRENT address (email) or
--                     verified phone (SMS), looked up when it is sent;
--   secret_sealed     the one-time secret variables ({"code": ...}) as a
--                     JSON object, sealed likewise (field "outbox_secret"),
--                     merged into the template variables in memory at send
--                     time only.
-- Destroying the member's key (DELETE /v1/me) makes both unreadable.
ALTER TABLE outbox ADD COLUMN recipient_sealed {{BLOB}};
ALTER TABLE outbox ADD COLUMN secret_sealed {{BLOB}};

-- Rows written before this migration that are already finished still hold
-- a clear phone number or address and, for a failed one, a clear code:
-- nothing will send them again, so they lose both now. Rows still in
-- flight keep theirs until they finish (outbox.c clears them then).
UPDATE outbox SET recipient = '' WHERE member_id IS NOT NULL AND state IN ('sent', 'failed');
UPDATE outbox SET variables = '{}'
	WHERE template IN ('email_verification', 'password_reset', 'phone_verification')
	AND state IN ('sent', 'failed');
