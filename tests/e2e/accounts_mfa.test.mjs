// SPDX-License-Identifier: Apache-2.0
//
// The TOTP second factor as a member with an authenticator app sees it:
// enrolment (secret, otpauth:// URI, QR code), confirmation with a code
// computed here exactly as an app does (HMAC-SHA1, RFC 6238), ten recovery
// codes shown once; from then on login needs a code, each time step works
// once, one step of clock drift either way is fine, a recovery code works
// once in place of a code; disabling needs the password and a code; wrong
// codes count towards the account lockout; staff cannot work without a
// second factor; changing MFA needs a recent authentication.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useInstance, errorObject, auditEvents, runBin, run, BACKEND, sleep, sqlOn } from './lib/harness.mjs';
import { freshEmail, postJson, signup, login, authed, waitMail, mailSeen } from './lib/accounts.mjs';
import { totp, totpAt, midStep, base32Decode } from './lib/totp.mjs';
import path from 'node:path';

const fast = { notify: { poll_ms: 50 }, accounts: { delay_step_ms: 0, lockout_threshold: 5 } };

const sql = (inst, statement) => sqlOn(inst, 'platform', statement);

// Node sends a DELETE body without chunked encoding unless told its length.
const withLength = (body) => ({ 'content-length': Buffer.byteLength(JSON.stringify(body)) });
const authedDelete = (svc, s, p, body, extra = {}) => authed(svc, s, p, { method: 'DELETE', body, headers: withLength(body), ...extra });

/** A member who signed up and logged in; enrolled and confirmed when mfa. */
async function member(svc, { mfa = false, confirmAt = 0 } = {}) {
	const u = await signup(svc);
	const s = await login(svc, u.email, u.password);
	if (!mfa) return { u, s };
	const e = await authed(svc, s, '/v1/mfa/totp', { method: 'POST' });
	assert.equal(e.status, 200, JSON.stringify(e.body));
	await midStep();
	const c = await authed(svc, s, '/v1/mfa/totp/confirm', { method: 'POST', body: { code: totpAt(e.body.secret, confirmAt) } });
	assert.equal(c.status, 200, JSON.stringify(c.body));
	return { u, s, secret: e.body.secret, recovery: c.body.recovery_codes };
}

describe('MFA (TOTP)', () => {
	const h = useInstance({ services: ['platform'], configOverrides: fast });
	const svc = () => h.inst.platform;

	test('enrolment returns the secret, an otpauth:// URI and an SVG QR code; the secret is sealed at rest', async () => {
		const { u, s } = await member(svc());
		const r = await authed(svc(), s, '/v1/mfa/totp', { method: 'POST' });
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.object, 'totp_enrollment');
		assert.equal(r.body.status, 'pending');
		assert.match(r.body.secret, /^[A-Z2-7]{32}$/);
		assert.equal(base32Decode(r.body.secret).length, 20);
		const uri = new URL(r.body.otpauth_uri);
		assert.equal(uri.protocol, 'otpauth:');
		assert.equal(uri.host, 'totp');
		assert.equal(uri.searchParams.get('secret'), r.body.secret);
		assert.equal(uri.searchParams.get('issuer'), 'strongroom');
		assert.equal(uri.searchParams.get('period'), '30');
		assert.equal(uri.searchParams.get('digits'), '6');
		assert.ok(decodeURIComponent(uri.pathname).includes(u.email), uri.pathname);
		assert.match(r.body.qr_code_svg, /^<svg[^>]*viewBox=/);
		assert.doesNotMatch(r.body.qr_code_svg, /<script|href=/i);

		// Not enabled until confirmed: login still needs no code.
		const me = await authed(svc(), s, '/v1/me');
		assert.equal(me.body.mfa.enabled, false);
		await login(svc(), u.email, u.password);

		// At rest only a sealed blob: neither the base32 text nor the raw bytes.
		const hex = await sql(h.inst, `SELECT ${BACKEND === 'postgres' ? "encode(secret_sealed, 'hex')" : 'hex(secret_sealed)'} FROM mfa_totp WHERE user_id = '${u.id}'`);
		assert.ok(hex.length > 80, 'a sealed secret is stored');
		assert.ok(!hex.toLowerCase().includes(base32Decode(r.body.secret).toString('hex')));
		const dump = await sql(h.inst, `SELECT * FROM mfa_totp WHERE user_id = '${u.id}'`);
		assert.ok(!dump.includes(r.body.secret));
	});

	test('confirm: a wrong code is refused, the right one enables MFA, returns 10 recovery codes once and mails the member', async () => {
		const { u, s } = await member(svc());
		const seen = await mailSeen(h.inst);
		const e = await authed(svc(), s, '/v1/mfa/totp', { method: 'POST' });
		const missing = await authed(svc(), s, '/v1/mfa/totp/confirm', { method: 'POST', body: {} });
		assert.equal(missing.status, 400);
		assert.equal(errorObject(missing.body).param, 'code');
		await midStep();
		const wrong = String((Number(totp(e.body.secret)) + 1) % 1e6).padStart(6, '0');
		const bad = await authed(svc(), s, '/v1/mfa/totp/confirm', { method: 'POST', body: { code: wrong } });
		assert.equal(bad.status, 400);
		assert.equal(errorObject(bad.body).code, 'code_invalid');
		assert.equal(errorObject(bad.body).param, 'code');
		assert.equal((await authed(svc(), s, '/v1/me')).body.mfa.enabled, false);

		const ok = await authed(svc(), s, '/v1/mfa/totp/confirm', { method: 'POST', body: { code: totp(e.body.secret) } });
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
		assert.equal(ok.body.enabled, true);
		assert.equal(ok.body.recovery_codes.length, 10);
		assert.equal(new Set(ok.body.recovery_codes).size, 10);
		for (const c of ok.body.recovery_codes) assert.match(c, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
		const me = await authed(svc(), s, '/v1/me');
		assert.deepEqual(me.body.mfa, { enabled: true, recovery_codes_remaining: 10 });

		const again = await authed(svc(), s, '/v1/mfa/totp/confirm', { method: 'POST', body: { code: totpAt(e.body.secret, 1) } });
		assert.equal(again.status, 409);
		const restart = await authed(svc(), s, '/v1/mfa/totp', { method: 'POST' });
		assert.equal(restart.status, 409);
		assert.equal(errorObject(restart.body).code, 'mfa_already_enabled');

		const mail = await waitMail(h.inst, u.email, /Two-step sign-in turned on/, { after: seen });
		for (const c of ok.body.recovery_codes) assert.ok(!mail.text.includes(c), 'no recovery code in mail');
		const dump = await sql(h.inst, `SELECT * FROM mfa_recovery_codes WHERE user_id = '${u.id}'`);
		for (const c of ok.body.recovery_codes) assert.ok(!dump.includes(c) && !dump.includes(c.replace(/-/g, '')));
		const ev = (await auditEvents(svc(), h.inst.credentials.platform_secret_key)).filter((x) => x.target.id === u.id);
		assert.ok(ev.some((x) => x.action === 'mfa.enable' && x.outcome === 'success'));
	});

	test('login then needs a code; a used code is refused; one step of drift either way works, two do not', async () => {
		// Confirmed with the PREVIOUS step's code: -1 step is accepted.
		const { u, secret } = await member(svc(), { mfa: true, confirmAt: -1 });
		const none = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password });
		assert.equal(none.status, 401);
		assert.equal(errorObject(none.body).code, 'otp_required');
		assert.equal(errorObject(none.body).param, 'otp');

		await midStep();
		const now = totp(secret);
		await login(svc(), u.email, u.password, { otp: now });
		const replay = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password, otp: now });
		assert.equal(replay.status, 401);
		assert.equal(errorObject(replay.body).code, 'otp_invalid');
		// An older step than the last one used is a replay too.
		const older = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password, otp: totpAt(secret, -1) });
		assert.equal(older.status, 401);
		// Two steps ahead is outside the window; one step ahead is inside.
		const far = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password, otp: totpAt(secret, 2) });
		assert.equal(far.status, 401);
		await login(svc(), u.email, u.password, { otp: totpAt(secret, 1) });
		const wrongPw = await postJson(svc(), '/v1/sessions', { email: u.email, password: 'not the password at all', otp: totpAt(secret, 1) });
		assert.equal(wrongPw.status, 401);
		assert.equal(errorObject(wrongPw.body).code, 'invalid_credentials');
	});

	test('a recovery code works once in place of a code', async () => {
		const { u, recovery } = await member(svc(), { mfa: true });
		const s = await login(svc(), u.email, u.password, { otp: recovery[3].toUpperCase() });
		const again = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password, otp: recovery[3] });
		assert.equal(again.status, 401);
		assert.equal(errorObject(again.body).code, 'otp_invalid');
		const me = await authed(svc(), s, '/v1/me');
		assert.deepEqual(me.body.mfa, { enabled: true, recovery_codes_remaining: 9 });
		await login(svc(), u.email, u.password, { otp: recovery[4] });
	});

	test('disabling needs the password and a code; then login needs no code and the member is told', async () => {
		const { u, s, secret } = await member(svc(), { mfa: true });
		const seen = await mailSeen(h.inst);
		const del = (body) => authedDelete(svc(), s, '/v1/mfa/totp', body);
		await midStep();
		let r = await del({ code: totpAt(secret, 1) });
		assert.equal(r.status, 400);
		assert.equal(errorObject(r.body).param, 'password');
		r = await del({ password: u.password });
		assert.equal(r.status, 400);
		assert.equal(errorObject(r.body).param, 'code');
		r = await del({ password: 'this is not my password', code: totpAt(secret, 1) });
		assert.equal(r.status, 400);
		assert.equal(errorObject(r.body).code, 'password_incorrect');
		r = await del({ password: u.password, code: '000000' === totpAt(secret, 1) ? '111111' : '000000' });
		assert.equal(r.status, 400);
		assert.equal(errorObject(r.body).code, 'code_invalid');
		const csrf = await authedDelete(svc(), s, '/v1/mfa/totp', { password: u.password, code: totpAt(secret, 1) }, { csrf: false });
		assert.equal(csrf.status, 403);
		assert.equal((await authed(svc(), s, '/v1/me')).body.mfa.enabled, true);

		r = await del({ password: u.password, code: totpAt(secret, 1) });
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.enabled, false);
		await login(svc(), u.email, u.password);
		await waitMail(h.inst, u.email, /Two-step sign-in turned off/, { after: seen });
		assert.equal(await sql(h.inst, `SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = '${u.id}'`), '0');
	});

	test('wrong codes count towards the account lockout', async () => {
		const { u, s, secret } = await member(svc(), { mfa: true });
		const seen = await mailSeen(h.inst);
		await midStep();
		const bad = totpAt(secret, 1) === '123456' ? '654321' : '123456';
		for (let i = 0; i < 5; i++) {
			const r = await authedDelete(svc(), s, '/v1/mfa/totp', { password: u.password, code: bad });
			assert.equal(r.status, 400, JSON.stringify(r.body));
		}
		// Locked now: even the right password and code are refused.
		const r = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password, otp: totpAt(secret, 1) });
		assert.notEqual(r.status, 201);
		await waitMail(h.inst, u.email, /locked/i, { after: seen });
		const d = await authedDelete(svc(), s, '/v1/mfa/totp', { password: u.password, code: totpAt(secret, 1) });
		assert.equal(d.status, 429);
		assert.equal(errorObject(d.body).code, 'account_locked');
	});

	test('staff log in with a second factor: without one the session can only enrol', async (t) => {
		const email = freshEmail('admin');
		const password = 'staff password that is long enough';
		const cr = await runBin(['user', 'create', '--config', h.inst.configPath, '--role', 'admin', '--email', email, '--name', 'Ada Admin'], {
			env: h.inst.dbEnv,
			input: `${password}\n${password}\n`,
		});
		if (cr.code !== 0 && /unknown (sub)?command|usage/i.test(cr.stderr + cr.stdout)) {
			t.skip('`strongroom user create` is not on this branch yet');
			return;
		}
		assert.equal(cr.code, 0, cr.stderr);
		const s = await login(svc(), email, password);
		assert.equal(s.body.restricted, true);
		const me = await authed(svc(), s, '/v1/me');
		assert.equal(me.status, 403);
		assert.equal(errorObject(me.body).code, 'mfa_enrollment_required');
		const e = await authed(svc(), s, '/v1/mfa/totp', { method: 'POST' });
		assert.equal(e.status, 200, JSON.stringify(e.body));
		await midStep();
		const c = await authed(svc(), s, '/v1/mfa/totp/confirm', { method: 'POST', body: { code: totp(e.body.secret) } });
		assert.equal(c.status, 200, JSON.stringify(c.body));
		// The session proved both factors: it is a full one now.
		assert.equal((await authed(svc(), s, '/v1/me')).status, 200);
		// A new login needs the code, and staff cannot turn the factor off.
		const none = await postJson(svc(), '/v1/sessions', { email, password });
		assert.equal(errorObject(none.body).code, 'otp_required');
		const s2 = await login(svc(), email, password, { otp: totpAt(e.body.secret, 1) });
		assert.notEqual(s2.body.restricted, true);
		const off = await authedDelete(svc(), s2, '/v1/mfa/totp', { password, code: c.body.recovery_codes[0] });
		assert.equal(off.status, 403);
		assert.equal(errorObject(off.body).code, 'mfa_required_for_staff');
	});
});

describe('MFA changes need a recent authentication', () => {
	const h = useInstance({ services: ['platform'], configOverrides: fast });
	const svc = () => h.inst.platform;

	test('403 reauthentication_required past the window, fine again after re-authenticating', async () => {
		const { u, s } = await member(svc());
		// The last authentication is older than [sessions] reauth_window_s,
		// as it would be 15 minutes later.
		await sql(h.inst, `UPDATE sessions SET auth_time = '2000-01-01T00:00:00.000Z' WHERE user_id = '${u.id}'`);
		const r = await authed(svc(), s, '/v1/mfa/totp', { method: 'POST' });
		assert.equal(r.status, 403);
		assert.equal(errorObject(r.body).code, 'reauthentication_required');
		const c = await authed(svc(), s, '/v1/mfa/totp/confirm', { method: 'POST', body: { code: '123456' } });
		assert.equal(c.status, 403);
		assert.equal(errorObject(c.body).code, 'reauthentication_required');
		const ra = await authed(svc(), s, '/v1/sessions/current/reauthenticate', { method: 'POST', body: { password: u.password } });
		assert.equal(ra.status, 200, JSON.stringify(ra.body));
		const ok = await authed(svc(), s, '/v1/mfa/totp', { method: 'POST' });
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
	});
});
