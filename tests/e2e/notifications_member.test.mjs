// SPDX-License-Identifier: Apache-2.0
//
// Notifications as a member and the marketplace see them, against a real
// SMTP server on loopback: the vault reports a payout, the member gets a
// DKIM-signed email with amount, currency, masked card and date, finds the
// same message (same reference) in the app, can check a suspicious
// reference publicly, and the marketplace receives a signed webhook. Bad
// vault webhooks are refused with error objects and change nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { SOURCE_DIR, auditEvents, errorObject, requestJson, run, startInstance, sleep } from './lib/harness.mjs';
import { authed, login, postJson, signup } from './lib/accounts.mjs';
import {
	eventId, fastNotifyEnv, postVaultEvent, readKey, sign, startReceiver, startSmtp, startTwilio, vaultEvent, waitMessages, waitText,
} from './lib/notify.mjs';

describe('member notifications from vault events', () => {
	let inst, smtp, receiver, vaultSecret, member, session;
	before(async () => {
		smtp = await startSmtp();
		// The receiver's URL goes into the platform's environment, and the
		// secret it checks with is written by init: set it once known.
		receiver = await startReceiver(Buffer.alloc(0));
		inst = await startInstance({ services: ['platform'], env: fastNotifyEnv(smtp, receiver) });
		receiver.secret = await readKey(inst, 'platform-webhook.key');
		vaultSecret = await readKey(inst, 'vault-webhook.key');
		member = await signup(inst.platform, { name: 'Ada Lovelace' });
		session = await login(inst.platform, member.email, member.password);
	});
	after(async () => {
		await inst?.stop();
		await receiver?.stop();
		await smtp?.stop();
	});

	test('a paid payout reaches the member by email and in the app, with one reference', async () => {
		const ev = vaultEvent('payout.paid', member.id, { amount: 12550, currency: 'eur' });
		const r = await postVaultEvent(inst.platform, vaultSecret, ev);
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.outcome, 'notified');
		const ref = r.body.reference;
		assert.match(ref, /^msg_[0-9a-f]{32}$/);

		const msgs = await waitMessages(smtp, (m) => m.some((x) => /Payout sent/.test(x.subject)), { what: 'the payout email' });
		const mail = msgs.find((x) => /Payout sent/.test(x.subject));
		assert.ok(mail.to.includes(member.email), mail.to);
		assert.match(mail.subject, /125\.50 EUR/);
		assert.match(mail.text, /Visa card ending in 4242/);
		assert.match(mail.text, /2025-11-29 08:40 UTC/); // the vault's "created", not the send time
		assert.ok(mail.text.includes(ref), 'the email carries the reference');
		assert.match(mail.raw, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed/m);
		// An independent verifier (dkimpy) checks the signature against the
		// record init wrote for DNS.
		const dkim = await run('/usr/bin/python3', [path.join(SOURCE_DIR, 'tests/tools/dkim_verify.py'),
			path.join(smtp.out, mail.file), path.join(inst.dir, 'dkim-dns.txt')]);
		assert.equal(dkim.code, 0, dkim.stdout + dkim.stderr);

		const list = await authed(inst.platform, session, '/v1/messages', { csrf: false });
		assert.equal(list.status, 200, JSON.stringify(list.body));
		assert.equal(list.body.object, 'list');
		const inApp = list.body.data.find((m) => m.reference === ref);
		assert.ok(inApp, 'the same reference is in the app');
		assert.equal(inApp.event, 'payout_sent');
		assert.equal(inApp.channel, 'email');
		assert.match(inApp.subject, /125\.50 EUR/);
		assert.match(inApp.body, /Visa card ending in 4242/);
		// Newest first: the payout comes before the sign-up verification mail.
		assert.equal(list.body.data[0].reference, ref);
		const verification = list.body.data.find((m) => m.event === 'email_verification');
		assert.ok(verification, 'the sign-up mail is a message too');
		assert.doesNotMatch(verification.body, /\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b/, 'one-time codes are not shown again in the app');
	});

	test('the same vault event delivered twice notifies once', async () => {
		const ev = vaultEvent('charge.succeeded', member.id, { amount: 5000, currency: 'usd' });
		const first = await postVaultEvent(inst.platform, vaultSecret, ev);
		assert.equal(first.body.outcome, 'notified');
		const again = await postVaultEvent(inst.platform, vaultSecret, ev);
		assert.equal(again.status, 200);
		assert.equal(again.body.duplicate, true);
		// A new event id about the same charge (a vault that re-emitted it)
		// is deduplicated by the charge id.
		const reemitted = await postVaultEvent(inst.platform, vaultSecret, { ...ev, id: eventId() });
		assert.equal(reemitted.status, 200);
		assert.equal(reemitted.body.reference, first.body.reference);
		await waitMessages(smtp, (m) => m.some((x) => x.text.includes(first.body.reference)), { what: 'the money email' });
		await sleep(500); // room for a duplicate to show up, if there were one
		const copies = (await smtp.messages()).filter((x) => x.text.includes(first.body.reference));
		assert.equal(copies.length, 1);
		assert.match(copies[0].subject, /50\.00 USD/);
	});

	test('the marketplace receives a signed member.payout webhook without personal data', async () => {
		const ev = vaultEvent('payout.failed', member.id, { amount: 999, currency: 'gbp', destination: { type: 'bank_account', last4: '6789' } });
		const r = await postVaultEvent(inst.platform, vaultSecret, ev);
		assert.equal(r.body.outcome, 'notified');
		const deadline = Date.now() + 15000;
		let got;
		while (!(got = receiver.events.find((e) => e.json?.data?.object?.reference === r.body.reference))) {
			assert.ok(Date.now() < deadline, 'no webhook reached the marketplace');
			await sleep(100);
		}
		assert.equal(got.signatureOk, true, 'Strongroom-Signature verifies under keys/platform-webhook.key');
		assert.equal(got.json.type, 'member.payout.failed');
		assert.match(got.json.id, /^evt_[0-9a-f]{32}$/);
		const o = got.json.data.object;
		assert.equal(o.member, member.id);
		assert.equal(o.amount, 999);
		assert.equal(o.currency, 'GBP');
		assert.equal(o.destination, 'bank account ending in 6789');
		assert.ok(!got.raw.toString().includes(member.email), 'no email address in the webhook');
		await waitMessages(smtp, (m) => m.some((x) => x.text.includes(r.body.reference)), { what: 'the payout failed email' });
	});

	test('bad vault webhooks are refused with error objects and notify nobody', async () => {
		const before = (await smtp.messages()).length;
		const ev = vaultEvent('payout.paid', member.id);
		const body = JSON.stringify(ev);

		const unsigned = await postVaultEvent(inst.platform, vaultSecret, ev, { signature: null });
		assert.equal(unsigned.status, 401);
		assert.equal(errorObject(unsigned.body).code, 'invalid_signature');

		const forged = await postVaultEvent(inst.platform, vaultSecret, ev, { signature: sign(Buffer.alloc(32, 7), body) });
		assert.equal(forged.status, 401);
		assert.equal(forged.body.error.type, 'authentication_error');

		const stale = await postVaultEvent(inst.platform, vaultSecret, ev, { signature: sign(vaultSecret, body, Math.floor(Date.now() / 1000) - 600) });
		assert.equal(stale.status, 401);
		assert.equal(stale.body.error.code, 'timestamp_outside_tolerance');
		// Each refusal is on the audit record, with its request id.
		const audit = await auditEvents(inst.platform, inst.credentials.platform_secret_key);
		const denied = audit.filter((e) => e.action === 'auth.failure' && e.target.type === 'webhook_endpoint');
		for (const [r, reason] of [[unsigned, 'invalid_signature'], [forged, 'invalid_signature'], [stale, 'timestamp_outside_tolerance']]) {
			const rec = denied.find((e) => e.request_id === r.headers['x-request-id']);
			assert.ok(rec, `audited: ${reason}`);
			assert.equal(rec.details.reason, reason);
			assert.equal(rec.outcome, 'denied');
		}

		// Signed, but the body was changed after signing.
		const tampered = await postVaultEvent(inst.platform, vaultSecret, ev, { signature: sign(vaultSecret, body), raw: body.replace('12550', '99999') });
		assert.equal(tampered.status, 401);

		const notJson = await postVaultEvent(inst.platform, vaultSecret, null, { raw: '{"id":' });
		assert.equal(notJson.status, 400);
		assert.equal(notJson.body.error.type, 'invalid_request_error');

		const badCurrency = await postVaultEvent(inst.platform, vaultSecret, vaultEvent('payout.paid', member.id, { currency: 'xyz1' }));
		assert.equal(badCurrency.status, 400);
		assert.equal(badCurrency.body.error.param, 'data.object.currency');

		const negative = await postVaultEvent(inst.platform, vaultSecret, vaultEvent('payout.paid', member.id, { amount: -5 }));
		assert.equal(negative.status, 400);
		assert.equal(negative.body.error.param, 'data.object.amount');

		// Well-formed but about nobody we know, or a type that concerns no
		// member: accepted (so the vault stops retrying), nothing sent.
		const stranger = await postVaultEvent(inst.platform, vaultSecret, vaultEvent('payout.paid', 'usr_00000000000000000000000000000000'));
		assert.equal(stranger.status, 200);
		assert.equal(stranger.body.outcome, 'ignored');
		const other = await postVaultEvent(inst.platform, vaultSecret, { ...vaultEvent('payout.paid', member.id), type: 'card.updated' });
		assert.equal(other.body.outcome, 'ignored');

		await sleep(500);
		assert.equal((await smtp.messages()).length, before, 'no email for any of them');
	});

	test('anyone can check a reference; only its owner sees the content', async () => {
		const r = await postVaultEvent(inst.platform, vaultSecret, vaultEvent('payout.created', member.id, { amount: 700, currency: 'jpy' }));
		const ref = r.body.reference;
		await waitMessages(smtp, (m) => m.some((x) => x.text.includes(ref)), { what: 'the payout requested email' });

		const pub = await postJson(inst.platform, '/v1/messages/verify', { reference: ref });
		assert.equal(pub.status, 200);
		assert.equal(pub.body.genuine, true);
		assert.equal(pub.body.channel, 'email');
		assert.match(pub.body.sent_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
		assert.equal(pub.body.message, null, 'no content without the owner\'s session');

		// A pasted reference with spaces around it still checks out.
		const pasted = await postJson(inst.platform, '/v1/messages/verify', { reference: `  ${ref} ` });
		assert.equal(pasted.body.genuine, true);

		const mine = await authed(inst.platform, session, '/v1/messages/verify', { method: 'POST', body: { reference: ref } });
		assert.equal(mine.body.genuine, true);
		assert.match(mine.body.message.subject, /700 JPY/);

		const other = await signup(inst.platform, { name: 'Eve' });
		const eve = await login(inst.platform, other.email, other.password);
		const theirs = await authed(inst.platform, eve, '/v1/messages/verify', { method: 'POST', body: { reference: ref } });
		assert.equal(theirs.body.genuine, true);
		assert.equal(theirs.body.message, null, 'another member does not see it');

		const fake = await postJson(inst.platform, '/v1/messages/verify', { reference: 'msg_0123456789abcdef0123456789abcdef' });
		assert.equal(fake.status, 200);
		assert.equal(fake.body.genuine, false);
		assert.deepEqual(Object.keys(fake.body).sort(), Object.keys(pub.body).sort(), 'the same shape either way');
		assert.equal(fake.body.sent_at, null);

		const missing = await postJson(inst.platform, '/v1/messages/verify', {});
		assert.equal(missing.status, 400);
		assert.equal(missing.body.error.code, 'parameter_missing');
		const number = await postJson(inst.platform, '/v1/messages/verify', { reference: 42 });
		assert.equal(number.status, 400);
		assert.equal(number.body.error.param, 'reference');
	});

	test('the message list pages with limit and starting_after and needs a session', async () => {
		const anon = await requestJson(inst.platform, '/v1/messages');
		assert.equal(anon.status, 401);
		const all = await authed(inst.platform, session, '/v1/messages?limit=100', { csrf: false });
		assert.ok(all.body.data.length >= 4);
		const page1 = await authed(inst.platform, session, '/v1/messages?limit=2', { csrf: false });
		assert.equal(page1.body.data.length, 2);
		assert.equal(page1.body.has_more, true);
		const page2 = await authed(inst.platform, session, `/v1/messages?limit=2&starting_after=${page1.body.data[1].id}`, { csrf: false });
		assert.deepEqual(
			[...page1.body.data, ...page2.body.data].map((m) => m.id),
			all.body.data.slice(0, 4).map((m) => m.id),
		);
		const bad = await authed(inst.platform, session, '/v1/messages?limit=0', { csrf: false });
		assert.equal(bad.status, 400);
		assert.equal(bad.body.error.param, 'limit');
		const foreign = await authed(inst.platform, session, '/v1/messages?starting_after=msg_nope', { csrf: false });
		assert.equal(foreign.status, 400);
		assert.equal(foreign.body.error.param, 'starting_after');
	});

	test('SMS alerts: opt-in only to a verified phone; email cannot be turned off', async () => {
		const get = await authed(inst.platform, session, '/v1/me/notifications', { csrf: false });
		assert.equal(get.status, 200);
		assert.deepEqual(get.body, { object: 'notification_settings', email: 'always', sms: false, phone_verified: false });

		const optIn = await authed(inst.platform, session, '/v1/me/notifications', { method: 'PATCH', body: { sms: true } });
		assert.equal(optIn.status, 409);
		assert.equal(optIn.body.error.code, 'phone_not_verified');
		assert.equal(optIn.body.error.param, 'sms');

		const noCsrf = await authed(inst.platform, session, '/v1/me/notifications', { method: 'PATCH', body: { sms: false }, csrf: false });
		assert.equal(noCsrf.status, 403);
		const emailOff = await authed(inst.platform, session, '/v1/me/notifications', { method: 'PATCH', body: { email: false } });
		assert.equal(emailOff.status, 400);
		assert.equal(emailOff.body.error.param, 'email');
		const notBool = await authed(inst.platform, session, '/v1/me/notifications', { method: 'PATCH', body: { sms: 'yes' } });
		assert.equal(notBool.status, 400);
		assert.equal(notBool.body.error.code, 'parameter_invalid');
		const unknown = await authed(inst.platform, session, '/v1/me/notifications', { method: 'PATCH', body: { sms: false, push: true } });
		assert.equal(unknown.status, 400);

		const off = await authed(inst.platform, session, '/v1/me/notifications', { method: 'PATCH', body: { sms: false } });
		assert.equal(off.status, 200);
		assert.equal(off.body.sms, false);
		const anon = await requestJson(inst.platform, '/v1/me/notifications');
		assert.equal(anon.status, 401);
	});

	test('security events reach the marketplace too: a password change is a signed member.security webhook', async () => {
		// Another member, so this one's password change leaves the others alone.
		const m = await signup(inst.platform, { name: 'Grace Hopper' });
		const s = await login(inst.platform, m.email, m.password);
		const r = await authed(inst.platform, s, '/v1/password', {
			method: 'POST', body: { current_password: m.password, new_password: 'a different long passphrase 7' },
		});
		assert.equal(r.status, 200, JSON.stringify(r.body));
		const deadline = Date.now() + 15000;
		let got;
		while (!(got = receiver.events.find((e) => e.json?.type === 'member.security.password_changed' && e.json?.data?.object?.member === m.id))) {
			assert.ok(Date.now() < deadline, 'no password_changed webhook reached the marketplace');
			await sleep(100);
		}
		assert.equal(got.signatureOk, true);
		assert.match(got.json.data.object.reference, /^msg_[0-9a-f]{32}$/);
		assert.ok(!got.raw.toString().includes(m.email), 'no email address in the webhook');
		// The mail itself went to the member's address, resolved at send time.
		await waitMessages(smtp, (ms) => ms.some((x) => x.to.includes(m.email) && x.text.includes(got.json.data.object.reference)),
			{ what: 'the password changed email' });
	});
});

describe('reference checks are rate-limited per address', () => {
	let inst, smtp;
	before(async () => {
		smtp = await startSmtp();
		inst = await startInstance({ services: ['platform'], env: { ...fastNotifyEnv(smtp), STRONGROOM_NOTIFY_VERIFY_PER_MINUTE: '5' } });
	});
	after(async () => {
		await inst?.stop();
		await smtp?.stop();
	});

	test('past the burst, 429 with Retry-After and an error object', async () => {
		const answers = [];
		for (let i = 0; i < 8; i++) answers.push(await postJson(inst.platform, '/v1/messages/verify', { reference: `msg_guess${i}` }));
		assert.deepEqual(answers.slice(0, 5).map((a) => a.status), [200, 200, 200, 200, 200]);
		const limited = answers.slice(5);
		for (const a of limited) {
			assert.equal(a.status, 429);
			assert.equal(a.body.error.type, 'rate_limit_error');
			assert.ok(Number(a.headers['retry-after']) >= 1);
		}
	});
});

describe('SMS alerts for transactions, through a Twilio-compatible API', () => {
	let inst, smtp, twilio, vaultSecret, member, session, phone;
	before(async () => {
		smtp = await startSmtp();
		twilio = await startTwilio();
		inst = await startInstance({ services: ['platform'], env: { ...fastNotifyEnv(smtp), ...twilio.env } });
		vaultSecret = await readKey(inst, 'vault-webhook.key');
		member = await signup(inst.platform, { name: 'Grace Hopper' });
		session = await login(inst.platform, member.email, member.password);
		phone = `+44770${String(100000 + (randomBytes(3).readUIntBE(0, 3) % 900000))}`;
	});
	after(async () => {
		await inst?.stop();
		await twilio?.stop();
		await smtp?.stop();
	});

	const settings = (body) => authed(inst.platform, session, '/v1/me/notifications', body ? { method: 'PATCH', body } : { csrf: false });

	test('opt-in needs the phone verified; then payouts are texted, with the in-app reference, until opt-out', async () => {
		// A phone number that is not verified yet: still refused.
		const added = await authed(inst.platform, session, '/v1/me', { method: 'PATCH', body: { phone } });
		assert.equal(added.status, 200, JSON.stringify(added.body));
		assert.equal((await settings({ sms: true })).status, 409);
		const code = /\b(\d{6})\b/.exec((await waitText(twilio, phone, /verification code/)).body)[1];
		const verified = await authed(inst.platform, session, '/v1/me/phone/verify', { method: 'POST', body: { code } });
		assert.equal(verified.status, 200, JSON.stringify(verified.body));

		const on = await settings({ sms: true });
		assert.equal(on.status, 200, JSON.stringify(on.body));
		assert.deepEqual(on.body, { object: 'notification_settings', email: 'always', sms: true, phone_verified: true });

		const r = await postVaultEvent(inst.platform, vaultSecret, vaultEvent('payout.paid', member.id, { amount: 31415, currency: 'eur' }));
		assert.equal(r.body.outcome, 'notified');
		const text = await waitText(twilio, phone, /Payout sent/);
		assert.equal(text.user, twilio.sid, 'basic auth with the account sid');
		assert.equal(text.path, `/2010-04-01/Accounts/${twilio.sid}/Messages.json`);
		assert.equal(text.from, '+15005550006');
		assert.match(text.body, /314\.15 EUR/);
		assert.doesNotMatch(text.body, /https?:|www\./, 'no links in an SMS');
		const smsRef = /msg_[0-9a-f]{32}/.exec(text.body)?.[0];
		assert.ok(smsRef, text.body);
		assert.notEqual(smsRef, r.body.reference, 'the SMS has its own reference');
		// The email went too (it cannot be turned off), and both are in the app.
		await waitMessages(smtp, (m) => m.some((x) => x.text.includes(r.body.reference)), { what: 'the payout email' });
		const list = await authed(inst.platform, session, '/v1/messages', { csrf: false });
		const sms = list.body.data.find((m) => m.reference === smsRef);
		assert.ok(sms, 'the SMS is an in-app message too');
		assert.equal(sms.channel, 'sms');
		const verify = await postJson(inst.platform, '/v1/messages/verify', { reference: smsRef });
		assert.equal(verify.body.genuine, true);
		assert.equal(verify.body.channel, 'sms');

		// A security event is email only.
		const pw = await authed(inst.platform, session, '/v1/password', { method: 'POST', body: { current_password: member.password, new_password: 'a brand new passphrase 7' } });
		assert.equal(pw.status, 200, JSON.stringify(pw.body));

		// Opted out: the next payout is mailed, not texted.
		assert.equal((await settings({ sms: false })).body.sms, false);
		const r2 = await postVaultEvent(inst.platform, vaultSecret, vaultEvent('payout.failed', member.id, { amount: 2718, currency: 'eur' }));
		await waitMessages(smtp, (m) => m.some((x) => x.text.includes(r2.body.reference)), { what: 'the payout failed email' });
		await sleep(500);
		const texts = (await twilio.texts()).filter((t) => t.to === phone);
		assert.equal(texts.filter((t) => /Payout/.test(t.body)).length, 1, 'only the opted-in payout was texted');
		assert.ok(!texts.some((t) => /password/i.test(t.body)), 'no SMS for the security event');
		const audit = await auditEvents(inst.platform, inst.credentials.platform_secret_key);
		const choices = audit.filter((e) => e.actor.id === member.id && e.action.startsWith('notifications.')).map((e) => e.action);
		assert.deepEqual(choices, ['notifications.sms_enabled', 'notifications.sms_disabled']);
	});
});
