// SPDX-License-Identifier: Apache-2.0
//
// The member profile as a member (and a staff reviewer) sees it: reading
// and changing name, phone, anti-phishing code, address, date of birth,
// citizenship and email, with a clear error naming the field for every bad
// value and nothing changed then; the phone proven with a texted code
// (development SMS file); an email change re-verified and announced to
// both addresses; the anti-phishing code at the top of genuine mail;
// deleting the account crypto-shreds it; staff reads are audited; and no
// personal value is ever in clear in the database or the logs - including
// the notification outbox while mail and texts are held back (an SMTP
// server answering 451, an SMS API that is down): no phone number, no old
// address, no verification code, no reset code; delivered later, they are
// right, and the mail of a member deleted meanwhile is never sent.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { useInstance, withInstance, errorObject, auditEvents, runBin, run, BACKEND, sleep, requestJson, sqlOn, freePort } from './lib/harness.mjs';
import { freshEmail, postJson, signup, login, authed, waitMail, mailSeen, mailbox, codeIn } from './lib/accounts.mjs';
import { fastNotifyEnv, startSmtp, startTwilio, waitMessages, waitText as waitTwilioText } from './lib/notify.mjs';
import { totp, totpAt, midStep } from './lib/totp.mjs';

const fast = { notify: { poll_ms: 50 }, accounts: { delay_step_ms: 0 } };
const withLength = (body) => ({ 'content-length': Buffer.byteLength(JSON.stringify(body)) });
const patch = (svc, s, body, extra = {}) => authed(svc, s, '/v1/me', { method: 'PATCH', body, ...extra });

const sql = (inst, statement) => sqlOn(inst, 'platform', statement);
const hexOf = (col) => (BACKEND === 'postgres' ? `encode(${col}, 'hex')` : `lower(hex(${col}))`);

/** Every text message the development SMS sink received. */
async function texts(inst) {
	try {
		return (await readFile(path.join(inst.dir, 'sms.log'), 'utf8'))
			.split('\n')
			.filter(Boolean)
			.map((l) => JSON.parse(l));
	} catch {
		return [];
	}
}
async function waitText(inst, to, re, timeoutMs = 10000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const t = (await texts(inst)).reverse().find((m) => m.to === to && re.test(m.body));
		if (t) return t;
		if (Date.now() > deadline) throw new Error(`no SMS to ${to} matching ${re}`);
		await sleep(50);
	}
}

/** Waits until the outbox has sent everything queued so far. */
async function outboxDrained(inst, timeoutMs = 10000) {
	const deadline = Date.now() + timeoutMs;
	while ((await sql(inst, "SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")) !== '0') {
		if (Date.now() > deadline) throw new Error('outbox not drained');
		await sleep(50);
	}
}

const randomPhone = () => `+44770${String(100000 + (randomBytes(3).readUIntBE(0, 3) % 900000))}`;

/** An admin made with the CLI, enrolled in TOTP, logged in with a code; null if the CLI lacks `user create`. */
async function staff(inst, svc) {
	const email = freshEmail('reviewer');
	const password = 'staff password that is long enough';
	const cr = await runBin(['user', 'create', '--config', inst.configPath, '--role', 'reviewer', '--email', email, '--name', 'Rita Reviewer'], {
		env: inst.dbEnv,
		input: `${password}\n${password}\n`,
	});
	if (cr.code !== 0 && /unknown (sub)?command|usage/i.test(cr.stderr + cr.stdout)) return null;
	assert.equal(cr.code, 0, cr.stderr);
	const first = await login(svc, email, password);
	const e = await authed(svc, first, '/v1/mfa/totp', { method: 'POST' });
	assert.equal(e.status, 200, JSON.stringify(e.body));
	await midStep();
	const c = await authed(svc, first, '/v1/mfa/totp/confirm', { method: 'POST', body: { code: totp(e.body.secret) } });
	assert.equal(c.status, 200, JSON.stringify(c.body));
	return login(svc, email, password, { otp: totpAt(e.body.secret, 1) });
}

describe('member profile', () => {
	const h = useInstance({ services: ['platform'], configOverrides: fast });
	const svc = () => h.inst.platform;

	test('GET /v1/me shows the member; without a session it is 401', async () => {
		const u = await signup(svc(), { name: 'Grace Hopper' });
		const s = await login(svc(), u.email, u.password);
		const me = await authed(svc(), s, '/v1/me');
		assert.equal(me.status, 200, JSON.stringify(me.body));
		assert.equal(me.body.id, u.id);
		assert.equal(me.body.object, 'member');
		assert.equal(me.body.email, u.email);
		assert.equal(me.body.name, 'Grace Hopper');
		assert.equal(me.body.role, 'member');
		for (const k of ['phone', 'anti_phishing_code', 'address', 'date_of_birth', 'citizenship']) assert.equal(me.body[k], null, k);
		assert.equal(me.body.phone_verified, false);
		assert.deepEqual(me.body.mfa, { enabled: false, recovery_codes_remaining: 0 });
		const anon = await requestJson(svc(), '/v1/me');
		assert.equal(anon.status, 401);
		assert.equal(errorObject(anon.body).type, 'authentication_error');
	});

	test('PATCH /v1/me stores every field, sealed, and answers the new profile', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		const body = {
			name: 'Zoë Ångström',
			anti_phishing_code: 'PLUM-42',
			address: { line1: '1 Quay Street', city: 'Bristol', postal_code: 'BS1 4DJ', country: 'gb' },
			date_of_birth: '1990-02-28',
			citizenship: 'de',
		};
		const r = await patch(svc(), s, body);
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.name, 'Zoë Ångström');
		assert.equal(r.body.anti_phishing_code, 'PLUM-42');
		assert.deepEqual(r.body.address, { line1: '1 Quay Street', city: 'Bristol', postal_code: 'BS1 4DJ', country: 'GB' });
		assert.equal(r.body.date_of_birth, '1990-02-28');
		assert.equal(r.body.citizenship, 'DE');
		assert.deepEqual((await authed(svc(), s, '/v1/me')).body, r.body);
		// null removes a field.
		const cleared = await patch(svc(), s, { address: null, citizenship: null });
		assert.equal(cleared.status, 200);
		assert.equal(cleared.body.address, null);
		assert.equal(cleared.body.citizenship, null);
		assert.equal(cleared.body.date_of_birth, '1990-02-28');
		// The change is audited by field name only.
		const ev = (await auditEvents(svc(), h.inst.credentials.platform_secret_key)).filter((x) => x.action === 'profile.update' && x.target.id === u.id);
		assert.ok(ev.length >= 2);
		assert.ok(ev.some((x) => x.details.fields.includes('anti_phishing_code')));
		assert.ok(!JSON.stringify(ev).includes('PLUM-42') && !JSON.stringify(ev).includes('Quay'));
	});

	test('every bad value is a 400 naming its field, and nothing changes', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		await patch(svc(), s, { anti_phishing_code: 'KEEP-ME', date_of_birth: '1980-01-01' });
		const before = (await authed(svc(), s, '/v1/me')).body;
		const cases = [
			[{ name: '' }, 'name'],
			[{ name: 'a\nb' }, 'name'],
			[{ name: 'x'.repeat(201) }, 'name'],
			[{ name: 42 }, 'name'],
			[{ email: 'not-an-address' }, 'email'],
			[{ phone: '07700 900123' }, 'phone'],
			[{ phone: '+0123456789' }, 'phone'],
			[{ phone: '+44770090012345678' }, 'phone'],
			[{ anti_phishing_code: 'abc' }, 'anti_phishing_code'],
			[{ anti_phishing_code: 'x'.repeat(33) }, 'anti_phishing_code'],
			[{ anti_phishing_code: '<b>phish</b>' }, 'anti_phishing_code'],
			[{ address: 'Main Street 1' }, 'address'],
			[{ address: { line1: '1 Main St', country: 'GB' } }, 'address'],
			[{ address: { line1: '1 Main St', city: 'Leeds', country: 'UK' } }, 'address'],
			[{ address: { line1: '1 Main St', city: 'Leeds', country: 'GB', planet: 'Earth' } }, 'address'],
			[{ date_of_birth: '1990-02-30' }, 'date_of_birth'],
			[{ date_of_birth: '2999-01-01' }, 'date_of_birth'],
			[{ date_of_birth: '28/02/1990' }, 'date_of_birth'],
			[{ citizenship: 'XX' }, 'citizenship'],
			[{ citizenship: 'DEU' }, 'citizenship'],
			// A good field next to a bad one is not applied either.
			[{ name: 'Changed Name', citizenship: 'ZZ' }, 'citizenship'],
		];
		for (const [body, param] of cases) {
			const r = await patch(svc(), s, body);
			assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status}`);
			const e = errorObject(r.body);
			assert.equal(e.type, 'invalid_request_error');
			assert.equal(e.param, param, JSON.stringify(body));
			assert.ok(e.message.length > 10);
		}
		const unknown = await patch(svc(), s, { nickname: 'x' });
		assert.equal(unknown.status, 400);
		assert.equal(errorObject(unknown.body).code, 'parameter_unknown');
		const notJson = await authed(svc(), s, '/v1/me', { method: 'PATCH', body: undefined, headers: { 'content-type': 'application/json' } });
		assert.equal(notJson.status, 200); // an empty PATCH changes nothing
		const arr = await requestJson(svc(), '/v1/me', { method: 'PATCH', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: '[1]' });
		assert.equal(arr.status, 400);
		assert.equal(errorObject(arr.body).code, 'invalid_json');
		const noCsrf = await patch(svc(), s, { name: 'No Csrf' }, { csrf: false });
		assert.equal(noCsrf.status, 403);
		assert.deepEqual((await authed(svc(), s, '/v1/me')).body, before);
	});

	test('a new phone is verified with the texted code; the member is told by email', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		const seen = await mailSeen(h.inst);
		const phone = randomPhone();
		const r = await patch(svc(), s, { phone });
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.phone, phone);
		assert.equal(r.body.phone_verified, false);
		const sms = await waitText(h.inst, phone, /verification code/);
		assert.doesNotMatch(sms.body, /https?:/);
		// Another number straight away: one text per half minute.
		const flood = await patch(svc(), s, { phone: randomPhone(), name: 'Not Applied' });
		assert.equal(flood.status, 429);
		assert.equal(errorObject(flood.body).param, 'phone');
		const still = (await authed(svc(), s, '/v1/me')).body;
		assert.equal(still.phone, phone);
		assert.notEqual(still.name, 'Not Applied');
		const code = /\b(\d{6})\b/.exec(sms.body)[1];
		const mail = await waitMail(h.inst, u.email, /phone number was changed/, { after: seen });
		assert.ok(!mail.text.includes(phone), 'the email shows the number masked');
		assert.ok(mail.text.includes(phone.slice(-4)));

		const verify = (c) => authed(svc(), s, '/v1/me/phone/verify', { method: 'POST', body: { code: c } });
		const missing = await authed(svc(), s, '/v1/me/phone/verify', { method: 'POST', body: {} });
		assert.equal(missing.status, 400);
		assert.equal(errorObject(missing.body).param, 'code');
		const wrong = await verify(code === '000000' ? '111111' : '000000');
		assert.equal(wrong.status, 400);
		assert.equal(errorObject(wrong.body).code, 'code_invalid');
		assert.equal((await authed(svc(), s, '/v1/me')).body.phone_verified, false);
		const ok = await verify(code);
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
		assert.equal(ok.body.phone_verified, true);
		const again = await verify(code);
		assert.equal(again.status, 409);
		// Patching the same verified number changes nothing.
		assert.equal((await patch(svc(), s, { phone })).body.phone_verified, true);
		// A different number starts over.
		const other = randomPhone();
		const r2 = await patch(svc(), s, { phone: other });
		assert.equal(r2.body.phone_verified, false);
		await waitText(h.inst, other, /verification code/);
	});

	test('changing the email re-verifies it and tells the old and the new address', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		const seen = await mailSeen(h.inst);
		const fresh = freshEmail('moved');
		const other = await signup(svc());
		const taken = await patch(svc(), s, { email: other.email, name: 'Should Not Apply' });
		assert.equal(taken.status, 409);
		assert.equal(errorObject(taken.body).code, 'email_taken');
		assert.notEqual((await authed(svc(), s, '/v1/me')).body.name, 'Should Not Apply');

		const r = await patch(svc(), s, { email: fresh });
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.email, fresh);
		assert.equal(r.body.email_verified, false);
		const toOld = await waitMail(h.inst, u.email, /email address was changed/, { after: seen });
		const toNew = await waitMail(h.inst, fresh, /email address was changed/, { after: seen });
		assert.ok(toOld && toNew);
		const verification = await waitMail(h.inst, fresh, /Confirm your email/, { after: seen });
		const v = await postJson(svc(), '/v1/users/verify_email', { token: codeIn(verification) });
		assert.equal(v.status, 200, JSON.stringify(v.body));
		assert.equal((await authed(svc(), s, '/v1/me')).body.email_verified, true);
		// The new address logs in; the old one is like any unknown address.
		await login(svc(), fresh, u.password);
		const old = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password });
		assert.equal(old.status, 401);
	});

	test('the anti-phishing code is at the top of every email the member gets', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		const apc = `KIWI-${randomBytes(3).toString('hex')}`;
		await patch(svc(), s, { anti_phishing_code: apc });
		const seen = await mailSeen(h.inst);
		await patch(svc(), s, { phone: randomPhone() });
		const mail = await waitMail(h.inst, u.email, /phone number was changed/, { after: seen });
		const body = mail.text.slice(mail.text.search(/\r?\n\r?\n/));
		const at = body.indexOf(`Your anti-phishing code: ${apc}`);
		assert.ok(at >= 0, 'the code is in the mail');
		assert.ok(at < body.indexOf('phone number'), 'before the message itself');
	});

	test('changing email or phone needs a recent authentication; the name does not', async () => {
		// Simulated with a session whose last authentication is older than
		// the window: set auth_time back, as time would.
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		await sql(h.inst, `UPDATE sessions SET auth_time = '2000-01-01T00:00:00.000Z' WHERE user_id = '${u.id}'`);
		for (const body of [{ phone: randomPhone() }, { email: freshEmail() }, { name: 'X', phone: null }]) {
			const r = await patch(svc(), s, body);
			assert.equal(r.status, 403, JSON.stringify(body));
			assert.equal(errorObject(r.body).code, 'reauthentication_required');
		}
		const ok = await patch(svc(), s, { name: 'Still Me' });
		assert.equal(ok.status, 200);
		const del = await authed(svc(), s, '/v1/me', { method: 'DELETE', body: { password: u.password }, headers: withLength({ password: u.password }) });
		assert.equal(del.status, 403);
		assert.equal(errorObject(del.body).code, 'reauthentication_required');
	});

	test('deleting the account crypto-shreds it: ciphertext stays, the key is gone, the member does not exist', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		await patch(svc(), s, { phone: randomPhone(), anti_phishing_code: 'SHRED-ME', date_of_birth: '1975-05-05' });
		const sealed = await sql(h.inst, `SELECT ${hexOf('phone_sealed')} || '|' || ${hexOf('date_of_birth_sealed')} FROM member_profile WHERE user_id = '${u.id}'`);
		assert.ok(sealed.length > 100);
		const del = (body, extra = {}) => authed(svc(), s, '/v1/me', { method: 'DELETE', body, headers: withLength(body), ...extra });
		let r = await del({});
		assert.equal(r.status, 400);
		assert.equal(errorObject(r.body).param, 'password');
		r = await del({ password: 'this is not the password' });
		assert.equal(r.status, 400);
		assert.equal(errorObject(r.body).code, 'password_incorrect');
		r = await del({ password: u.password }, { csrf: false });
		assert.equal(r.status, 403);
		r = await del({ password: u.password });
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.deepEqual(r.body, { id: u.id, object: 'member', deleted: true });

		// The ciphertext is still there, unchanged; the key that opens it is not.
		assert.equal(await sql(h.inst, `SELECT ${hexOf('phone_sealed')} || '|' || ${hexOf('date_of_birth_sealed')} FROM member_profile WHERE user_id = '${u.id}'`), sealed);
		assert.ok((await sql(h.inst, `SELECT ${hexOf('email_sealed')} FROM users WHERE id = '${u.id}'`)).length > 40);
		assert.equal(await sql(h.inst, `SELECT COUNT(*) FROM member_keys WHERE user_id = '${u.id}'`), '0');

		// The API: the session is gone, and logging in is exactly like an unknown address.
		assert.equal((await authed(svc(), s, '/v1/me')).status, 401);
		const gone = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password });
		const unknown = await postJson(svc(), '/v1/sessions', { email: freshEmail('nobody'), password: u.password });
		assert.equal(gone.status, unknown.status);
		assert.deepEqual(gone.body, unknown.body);
		const ev = (await auditEvents(svc(), h.inst.credentials.platform_secret_key)).filter((x) => x.action === 'account.delete' && x.target.id === u.id);
		assert.ok(ev.some((x) => x.outcome === 'success' && x.details.key_shredded === true));

		// Staff asking for the member get 404 (when the CLI can make staff here).
		const st = await staff(h.inst, svc());
		if (st) assert.equal((await authed(svc(), st, `/v1/members/${u.id}`)).status, 404);
	});

	test('staff read a member only with their role, and every read is audited', async (t) => {
		const u = await signup(svc(), { name: 'Mary Member' });
		const s = await login(svc(), u.email, u.password);
		await patch(svc(), s, { date_of_birth: '1985-07-01', citizenship: 'FR' });
		const member = await authed(svc(), s, `/v1/members/${u.id}`);
		assert.equal(member.status, 403);
		const st = await staff(h.inst, svc());
		if (!st) {
			t.skip('`strongroom user create` is not on this branch yet');
			return;
		}
		const r = await authed(svc(), st, `/v1/members/${u.id}`);
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.name, 'Mary Member');
		assert.equal(r.body.citizenship, 'FR');
		await authed(svc(), st, `/v1/members/${u.id}`);
		const nf = await authed(svc(), st, '/v1/members/usr_00000000000000000000000000000000');
		assert.equal(nf.status, 404);
		const ev = (await auditEvents(svc(), h.inst.credentials.platform_secret_key)).filter((x) => x.action === 'member.personal_data.read');
		assert.equal(ev.filter((x) => x.target.id === u.id && x.outcome === 'success' && x.actor.id !== u.id).length, 2);
		assert.ok(ev.some((x) => x.target.id === 'usr_00000000000000000000000000000000' && x.outcome === 'failure'));
		// The member who tried is on record too.
		assert.ok(ev.some((x) => x.actor.id === u.id && x.target.id === u.id && x.outcome === 'denied'));
	});

	test('no personal value is in clear in the database or the logs', async () => {
		const tag = randomBytes(4).toString('hex');
		const u = await signup(svc(), { name: `Quentin Q${tag}` });
		const s = await login(svc(), u.email, u.password);
		const phone = randomPhone();
		const values = {
			name: `Quentin Q${tag}`,
			phone,
			phoneDigits: phone.slice(1),
			line1: `${tag} Lighthouse Lane`,
			city: `Porth${tag}`,
			dob: '1966-06-16',
			apc: `OWL-${tag}`,
		};
		const r = await patch(svc(), s, {
			phone,
			anti_phishing_code: values.apc,
			address: { line1: values.line1, city: values.city, country: 'GB' },
			date_of_birth: values.dob,
			name: values.name,
		});
		assert.equal(r.status, 200, JSON.stringify(r.body));
		const sms = await waitText(h.inst, phone, /verification code/);
		await outboxDrained(h.inst);
		const ok = await authed(svc(), s, '/v1/me/phone/verify', { method: 'POST', body: { code: /\b(\d{6})\b/.exec(sms.body)[1] } });
		assert.equal(ok.status, 200);
		await authed(svc(), s, '/v1/me');

		// The database as an attacker with a copy would read it: every table, as text.
		let dump;
		if (BACKEND === 'postgres') {
			const d = await run('pg_dump', ['--data-only', h.inst.dbEnv.STRONGROOM_PLATFORM_DATABASE_URL]);
			assert.equal(d.code, 0, d.stderr);
			dump = d.stdout;
		} else {
			const d = await run('sqlite3', ['-cmd', '.timeout 5000', path.join(h.inst.dir, 'platform.db'), '.dump']);
			assert.equal(d.code, 0, d.stderr);
			dump = d.stdout;
		}
		assert.ok(dump.includes(u.id), 'the dump has the member');
		const logs = h.inst.platform.lines.join('\n');
		for (const [what, v] of Object.entries(values)) {
			const hex = Buffer.from(v).toString('hex');
			assert.ok(!dump.includes(v) && !dump.toLowerCase().includes(hex), `${what} in clear in the database`);
			assert.ok(!logs.includes(v), `${what} in the logs`);
		}
		// The bytes on disk too (the outbox holds the number of a text only
		// sealed, even while it is in flight: docs/notifications.md).
		if (BACKEND === 'sqlite') {
			for (const f of ['platform.db', 'platform.db-wal']) {
				let raw;
				try {
					raw = await readFile(path.join(h.inst.dir, f));
				} catch {
					continue;
				}
				for (const k of ['name', 'line1', 'city', 'dob', 'apc', 'phone', 'phoneDigits'])
					assert.ok(!raw.includes(Buffer.from(values[k])), `${k} in ${f}`);
			}
		}
	});
});

/** The platform database as someone with a copy reads it: a text dump, and on SQLite the raw files. */
async function databaseCopy(inst) {
	if (BACKEND === 'postgres') {
		const d = await run('pg_dump', ['--data-only', inst.dbEnv.STRONGROOM_PLATFORM_DATABASE_URL]);
		assert.equal(d.code, 0, d.stderr);
		return { text: d.stdout, raw: [] };
	}
	const d = await run('sqlite3', ['-cmd', '.timeout 5000', path.join(inst.dir, 'platform.db'), '.dump']);
	assert.equal(d.code, 0, d.stderr);
	const raw = [];
	for (const f of ['platform.db', 'platform.db-wal']) {
		try {
			raw.push([f, await readFile(path.join(inst.dir, f))]);
		} catch {}
	}
	return { text: d.stdout, raw };
}

function assertNotIn(copy, what, value) {
	const hex = Buffer.from(value).toString('hex');
	assert.ok(!copy.text.includes(value) && !copy.text.toLowerCase().includes(hex), `${what} in clear in the database dump`);
	for (const [f, bytes] of copy.raw) assert.ok(!bytes.includes(Buffer.from(value)), `${what} in ${f}`);
}

describe('the notification outbox while delivery is held back', () => {
	test('holds no phone, no old address, no code; delivers them right later; a deleted member\'s mail is never sent', async () => {
		const held = await startSmtp({ failFirst: 1000000 }); // every message: 451, try again later
		const smtp = await startSmtp();
		const twilio = await startTwilio();
		const deadSms = { ...twilio.env, STRONGROOM_SMS_API_BASE: `http://127.0.0.1:${await freePort()}` };
		try {
			await withInstance({ services: ['platform'], env: { ...fastNotifyEnv(held), ...deadSms } }, async (inst) => {
				const svc = () => inst.platform;
				// Member A: a password reset, a new phone, a new email address.
				const a = await signup(svc());
				const sa = await login(svc(), a.email, a.password);
				assert.equal((await postJson(svc(), '/v1/password/reset', { email: a.email })).status, 202);
				const phone = randomPhone();
				assert.equal((await patch(svc(), sa, { phone })).status, 200);
				const newEmail = freshEmail('newhome');
				const moved = await patch(svc(), sa, { email: newEmail });
				assert.equal(moved.status, 200, JSON.stringify(moved.body));
				// Member B queues mail and a text, then deletes the account.
				const b = await signup(svc());
				const sb = await login(svc(), b.email, b.password);
				const phoneB = randomPhone();
				assert.equal((await patch(svc(), sb, { phone: phoneB })).status, 200);
				const bodyB = { password: b.password };
				const del = await authed(svc(), sb, '/v1/me', { method: 'DELETE', body: bodyB, headers: withLength(bodyB) });
				assert.equal(del.status, 200, JSON.stringify(del.body));

				// Everything has been tried and held back (or, B's, given up).
				const deadline = Date.now() + 15000;
				while ((await sql(inst, 'SELECT COUNT(*) FROM outbox WHERE attempts = 0')) !== '0') {
					assert.ok(Date.now() < deadline, 'the delivery job did not try every row');
					await sleep(100);
				}
				assert.equal(await sql(inst, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'"), '0');
				const waiting = await sql(inst, `SELECT template || ':' || state || ':' || COALESCE(last_error, '') FROM outbox WHERE member_id = '${a.id}' ORDER BY created_at`);
				assert.ok(waiting.split('\n').filter((l) => /:(pending|sending):/.test(l)).length >= 6, waiting);
				const copy = await databaseCopy(inst);
				assert.ok(copy.text.includes(a.id), 'the dump has the member');
				for (const [what, v] of [
					['phone', phone],
					['phone digits', phone.slice(1)],
					['old address', a.email],
					['new address', newEmail],
					["B's phone", phoneB],
					["B's address", b.email],
				])
					assertNotIn(copy, what, v);
				assert.equal(await sql(inst, `SELECT COUNT(*) FROM outbox WHERE member_id = '${a.id}' AND (recipient <> '' OR variables LIKE '%code%')`), '0');

				// Delivery resumes: the same database, a working SMTP server and SMS API.
				await inst.platform.stop();
				await inst.startService('platform', { extraEnv: { ...fastNotifyEnv(smtp), ...twilio.env } });

				// The text went to the pending number, with a code that verifies it.
				const sms = await waitTwilioText(twilio, phone, /verification code/);
				const phoneCode = /\b(\d{6})\b/.exec(sms.body)[1];
				const verified = await authed(svc(), sa, '/v1/me/phone/verify', { method: 'POST', body: { code: phoneCode } });
				assert.equal(verified.status, 200, JSON.stringify(verified.body));
				assert.equal(verified.body.phone_verified, true);
				// The old address was told of the change, the new one verifies with its code.
				const msgs = await waitMessages(smtp, (m) => m.some((x) => x.to.includes(a.email) && /email address was changed/.test(x.subject)) &&
					m.some((x) => x.to.includes(newEmail) && /Confirm your email/.test(x.subject)) && m.some((x) => /Password reset code/.test(x.subject)),
					{ what: "A's held-back mail" });
				// The sign-up verification still waiting when the address changed
				// carried a code the change voided: it was withdrawn, so the new
				// address gets exactly one code, and it works.
				await sleep(500); // room for a stale second one, if there were one
				const confirms = (await smtp.messages()).filter((x) => /Confirm your email/.test(x.subject));
				assert.equal(confirms.length, 1, confirms.map((x) => x.to).join(', '));
				assert.ok(confirms[0].to.includes(newEmail));
				const emailCode = codeIn(confirms[0]);
				const confirmed = await postJson(svc(), '/v1/users/verify_email', { token: emailCode });
				assert.equal(confirmed.status, 200, 'the verification code of the new address works');
				assert.match(await sql(inst, `SELECT last_error FROM outbox WHERE member_id = '${a.id}' AND template = 'email_verification' AND state = 'failed'`), /withdrawn: a newer code was issued/);
				assert.equal((await authed(svc(), sa, '/v1/me')).body.email_verified, true);
				// The reset code from the mail works.
				const reset = msgs.find((x) => /Password reset code/.test(x.subject));
				const resetCode = codeIn(reset);
				const done = await postJson(svc(), '/v1/password/reset/confirm', { token: resetCode, new_password: 'a fresh password after the wait' });
				assert.equal(done.status, 200, JSON.stringify(done.body));
				const sa2 = await login(svc(), newEmail, 'a fresh password after the wait');
				// None of the codes was ever in the database while they waited.
				for (const [what, v] of [['phone code', phoneCode], ['email verification code', emailCode], ['reset code', resetCode]])
					assertNotIn(copy, what, v);

				// B: nothing was sent, every row failed, saying why without personal data.
				assert.ok(!(await twilio.texts()).some((t) => t.to === phoneB), 'a deleted member was texted');
				assert.ok(!(await smtp.messages()).some((m) => m.to.includes(b.email)), 'a deleted member was mailed');
				assert.equal(await sql(inst, `SELECT COUNT(*) FROM outbox WHERE member_id = '${b.id}' AND state <> 'failed'`), '0');
				const errors = await sql(inst, `SELECT last_error FROM outbox WHERE member_id = '${b.id}'`);
				assert.match(errors, /personal data was erased/);
				assert.ok(!errors.includes(phoneB) && !errors.includes(b.email));
				// The app still lists A's messages, with the codes masked.
				const list = await authed(svc(), sa2, '/v1/messages', { csrf: false });
				assert.equal(list.status, 200, JSON.stringify(list.body));
				assert.ok(list.body.data.length >= 6);
				const shown = JSON.stringify(list.body);
				for (const v of [phoneCode, emailCode, resetCode, phone]) assert.ok(!shown.includes(v), 'a code or number in the app list');
			});
		} finally {
			await held.stop();
			await smtp.stop();
			await twilio.stop();
		}
	});
});
