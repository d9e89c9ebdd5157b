// SPDX-License-Identifier: Apache-2.0
//
// Member accounts as a member's browser sees them: sign-up with a clear
// error for every bad field, the verification mail and its single-use code,
// login with the session cookie's attributes and a CSRF token, the list of
// sessions, revoking one, logging out, re-authentication, password change
// (other sessions end, mail sent) and password reset.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useInstance, errorObject, auditEvents } from './lib/harness.mjs';
import {
	GOOD_PASSWORD, freshEmail, postJson, signup, login, authed, cookies, waitMail, mailSeen, codeIn, mailbox,
} from './lib/accounts.mjs';

const fast = { notify: { poll_ms: 50 }, accounts: { delay_step_ms: 0 } };

describe('accounts', () => {
	const h = useInstance({ services: ['platform'], configOverrides: fast });
	const svc = () => h.inst.platform;

	test('sign-up answers 201 with a usr_ id and mails a verification code that works once', async () => {
		const email = freshEmail();
		const r = await postJson(svc(), '/v1/users', { email: `  ${email.toUpperCase()} `, password: GOOD_PASSWORD, name: 'Grace Hopper' });
		assert.equal(r.status, 201, JSON.stringify(r.body));
		assert.match(r.body.id, /^usr_[0-9a-f]{32}$/);
		assert.equal(r.body.object, 'user');
		assert.equal(r.body.role, 'member');
		assert.equal(r.body.email_verified, false);

		const mail = await waitMail(h.inst, email, /Confirm your email/);
		const code = codeIn(mail);
		const ok = await postJson(svc(), '/v1/users/verify_email', { token: code.toLowerCase() });
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
		assert.deepEqual(ok.body, { id: r.body.id, object: 'user', email_verified: true });

		const again = await postJson(svc(), '/v1/users/verify_email', { token: code });
		assert.equal(again.status, 400);
		assert.equal(errorObject(again.body).code, 'token_invalid');
	});

	test('a signed-in member can ask for a new verification code; the old one stays single-use', async () => {
		const u = await signup(svc());
		const first = codeIn(await waitMail(h.inst, u.email, /Confirm your email/));
		const s = await login(svc(), u.email, u.password);
		const noCsrf = await authed(svc(), s, '/v1/users/verify_email/resend', { method: 'POST', csrf: false });
		assert.equal(noCsrf.status, 403);
		// Within a minute of the first code: accepted, no second mail yet.
		const r = await authed(svc(), s, '/v1/users/verify_email/resend', { method: 'POST' });
		assert.equal(r.status, 202, JSON.stringify(r.body));
		assert.equal((await postJson(svc(), '/v1/users/verify_email', { token: first })).status, 200);
		const done = await authed(svc(), s, '/v1/users/verify_email/resend', { method: 'POST' });
		assert.equal(done.status, 400);
		assert.equal(errorObject(done.body).code, 'email_already_verified');
	});

	test('sign-up refuses each bad field with a 400 naming it', async () => {
		const cases = [
			[{ password: GOOD_PASSWORD, name: 'A B' }, 'parameter_missing', 'email'],
			[{ email: 'not-an-address', password: GOOD_PASSWORD, name: 'A B' }, 'email_invalid', 'email'],
			[{ email: 'a@b', password: GOOD_PASSWORD, name: 'A B' }, 'email_invalid', 'email'],
			[{ email: 42, password: GOOD_PASSWORD, name: 'A B' }, 'parameter_invalid', 'email'],
			[{ email: freshEmail(), password: GOOD_PASSWORD }, 'parameter_missing', 'name'],
			[{ email: freshEmail(), password: GOOD_PASSWORD, name: '   ' }, 'name_invalid', 'name'],
			[{ email: freshEmail(), password: GOOD_PASSWORD, name: 'x'.repeat(201) }, 'name_invalid', 'name'],
			[{ email: freshEmail(), password: GOOD_PASSWORD, name: 'bad\u0007name' }, 'name_invalid', 'name'],
			[{ email: freshEmail(), name: 'A B' }, 'parameter_missing', 'password'],
			[{ email: freshEmail(), password: 'short pass', name: 'A B' }, 'password_too_short', 'password'],
			[{ email: freshEmail(), password: 'fourteen chars', name: 'A B' }, 'password_too_short', 'password'],
			[{ email: freshEmail(), password: 'password1234567!', name: 'A B' }, 'password_common', 'password'],
			[{ email: 'marguerite@example.test', password: 'marguerite is my secret', name: 'M Y' }, 'password_contains_email', 'password'],
			[{ email: freshEmail(), password: 'hypatia of alexandria!', name: 'Hypatia Alexandria' }, 'password_contains_name', 'password'],
			[{ email: freshEmail(), password: 'x'.repeat(129), name: 'A B' }, 'password_too_long', 'password'],
			[{ email: freshEmail(), password: GOOD_PASSWORD, name: 'A B', admin: true }, 'parameter_unknown', 'admin'],
		];
		for (const [body, code, param] of cases) {
			const r = await postJson(svc(), '/v1/users', body);
			assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status}`);
			const e = errorObject(r.body);
			assert.equal(e.type, 'invalid_request_error');
			assert.equal(e.code, code, JSON.stringify(r.body));
			assert.equal(e.param, param);
			assert.ok(e.message.length > 10);
		}
		const notJson = await postJson(svc(), '/v1/users', '{"email":');
		assert.equal(notJson.status, 400);
		assert.equal(errorObject(notJson.body).code, 'invalid_json');
		// A 64-character password is accepted.
		const long = await postJson(svc(), '/v1/users', { email: freshEmail(), password: 'p'.repeat(40) + 'q'.repeat(24), name: 'A B' });
		assert.equal(long.status, 201, JSON.stringify(long.body));
	});

	test('signing up with a taken address looks the same and changes nothing', async () => {
		const u = await signup(svc());
		const dup = await postJson(svc(), '/v1/users', { email: u.email, password: 'another fine long password', name: 'Mallory' });
		assert.equal(dup.status, 201);
		assert.deepEqual(Object.keys(dup.body).sort(), ['created', 'email_verified', 'id', 'object', 'role']);
		assert.notEqual(dup.body.id, u.id);
		// The original password still works, the new one does not.
		await login(svc(), u.email, u.password);
		const bad = await postJson(svc(), '/v1/sessions', { email: u.email, password: 'another fine long password' });
		assert.equal(bad.status, 401);
	});

	test('login sets a __Host- cookie (HttpOnly, Secure, SameSite=Lax, Path=/) and returns a CSRF token', async () => {
		const u = await signup(svc());
		const r = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password });
		assert.equal(r.status, 201, JSON.stringify(r.body));
		const c = cookies(r.headers)['__Host-strongroom_session'];
		assert.ok(c.value.length >= 43);
		assert.ok(c.attrs.includes('httponly'));
		assert.ok(c.attrs.includes('secure'));
		assert.ok(c.attrs.includes('samesite=lax'));
		assert.ok(c.attrs.includes('path=/'));
		assert.ok(!c.attrs.some((a) => a.startsWith('domain=')), '__Host- cookies carry no Domain');
		assert.match(r.body.id, /^ses_[0-9a-f]{32}$/);
		assert.equal(typeof r.body.csrf_token, 'string');
		assert.ok(r.body.csrf_token.length >= 43);
		assert.equal(r.body.user.id, u.id);
		assert.equal(r.body.user.role, 'member');
		assert.equal(r.headers['cache-control'], 'no-store');
	});

	test('wrong password and unknown email get the same 401 body', async () => {
		const u = await signup(svc());
		const wrong = await postJson(svc(), '/v1/sessions', { email: u.email, password: 'not the password at all' });
		const unknown = await postJson(svc(), '/v1/sessions', { email: freshEmail('nobody'), password: 'not the password at all' });
		assert.equal(wrong.status, 401);
		assert.equal(unknown.status, 401);
		assert.deepEqual(wrong.body, unknown.body);
		assert.equal(errorObject(wrong.body).code, 'invalid_credentials');
	});

	test('state-changing requests need the CSRF token; GET does not', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		const list = await authed(svc(), s, '/v1/sessions', { csrf: false });
		assert.equal(list.status, 200);
		const missing = await authed(svc(), s, `/v1/sessions/${s.id}`, { method: 'DELETE', csrf: false });
		assert.equal(missing.status, 403);
		assert.equal(errorObject(missing.body).code, 'csrf_token_invalid');
		const wrong = await authed(svc(), s, `/v1/sessions/${s.id}`, { method: 'DELETE', csrf: s.csrf.slice(0, -2) + 'AA' });
		assert.equal(wrong.status, 403);
		assert.equal(errorObject(wrong.body).code, 'csrf_token_invalid');
		// Nothing changed: the session still works.
		assert.equal((await authed(svc(), s, '/v1/sessions')).status, 200);
		const none = await postJson(svc(), '/v1/password', { current_password: 'x', new_password: 'y' });
		assert.equal(none.status, 401);
		assert.equal(errorObject(none.body).code, 'authentication_required');
	});

	test('sessions: list with device, IP, last seen and current; revoke one; log out', async () => {
		const u = await signup(svc());
		const a = await login(svc(), u.email, u.password, {}, { 'user-agent': 'Firefox/128 (laptop)' });
		const b = await login(svc(), u.email, u.password, {}, { 'user-agent': 'Safari/17 (phone)' });
		const list = await authed(svc(), a, '/v1/sessions');
		assert.equal(list.status, 200);
		assert.equal(list.body.object, 'list');
		assert.equal(list.body.data.length, 2);
		const mine = list.body.data.find((x) => x.current);
		assert.equal(mine.id, a.id);
		assert.equal(mine.device, 'Firefox/128 (laptop)');
		assert.equal(mine.ip, '127.0.0.1');
		assert.match(mine.last_seen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
		assert.equal(list.body.data.find((x) => !x.current).device, 'Safari/17 (phone)');

		// Another member cannot revoke it.
		const other = await signup(svc());
		const o = await login(svc(), other.email, other.password);
		const foreign = await authed(svc(), o, `/v1/sessions/${b.id}`, { method: 'DELETE' });
		assert.equal(foreign.status, 404);
		assert.equal((await authed(svc(), b, '/v1/sessions')).status, 200);

		const rv = await authed(svc(), a, `/v1/sessions/${b.id}`, { method: 'DELETE' });
		assert.equal(rv.status, 200, JSON.stringify(rv.body));
		assert.equal(rv.body.revoked, true);
		const gone = await authed(svc(), b, '/v1/sessions');
		assert.equal(gone.status, 401);
		assert.equal(errorObject(gone.body).code, 'session_expired');

		const out = await authed(svc(), a, '/v1/sessions/current', { method: 'DELETE' });
		assert.equal(out.status, 200);
		assert.equal(out.body.current, true);
		const cleared = cookies(out.headers)['__Host-strongroom_session'];
		assert.equal(cleared.value, '');
		assert.ok(cleared.attrs.includes('max-age=0'));
		assert.equal((await authed(svc(), a, '/v1/sessions')).status, 401);

		const events = (await auditEvents(h.inst.platform, h.inst.credentials.platform_secret_key)).map((e) => e.action);
		assert.ok(events.includes('session.revoke'));
		assert.ok(events.includes('session.logout'));
		assert.ok(events.includes('login.success'));
	});

	test('a login from a new device mails the member; the first login does not', async () => {
		const u = await signup(svc());
		await login(svc(), u.email, u.password, {}, { 'user-agent': 'Known/1.0' });
		await login(svc(), u.email, u.password, {}, { 'user-agent': 'Known/1.0' });
		await login(svc(), u.email, u.password, {}, { 'user-agent': 'Stranger/9.9' });
		const m = await waitMail(h.inst, u.email, /New sign-in/);
		assert.match(m.text, /Stranger\/9\.9/);
		const all = (await mailbox(h.inst)).filter((x) => x.to.includes(u.email) && /New sign-in/.test(x.subject));
		assert.equal(all.length, 1);
	});

	test('password change: needs the current password, ends the other sessions, mails the member', async () => {
		const u = await signup(svc());
		const a = await login(svc(), u.email, u.password);
		const b = await login(svc(), u.email, u.password);
		const weak = await authed(svc(), a, '/v1/password', { method: 'POST', body: { current_password: u.password, new_password: 'too short' } });
		assert.equal(weak.status, 400);
		assert.equal(errorObject(weak.body).code, 'password_too_short');
		assert.equal(errorObject(weak.body).param, 'new_password');
		const wrong = await authed(svc(), a, '/v1/password', { method: 'POST', body: { current_password: 'not my password!!', new_password: 'a brand new passphrase' } });
		assert.equal(wrong.status, 400);
		assert.equal(errorObject(wrong.body).code, 'current_password_incorrect');
		// Neither changed anything.
		assert.equal((await authed(svc(), b, '/v1/sessions')).status, 200);

		const ok = await authed(svc(), a, '/v1/password', { method: 'POST', body: { current_password: u.password, new_password: 'a brand new passphrase' } });
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
		assert.equal(ok.body.sessions_revoked, 1);
		assert.equal((await authed(svc(), a, '/v1/sessions')).status, 200);
		assert.equal((await authed(svc(), b, '/v1/sessions')).status, 401);
		await waitMail(h.inst, u.email, /password was changed/);
		await login(svc(), u.email, 'a brand new passphrase');
		const old = await postJson(svc(), '/v1/sessions', { email: u.email, password: u.password });
		assert.equal(old.status, 401);
	});

	test('re-authentication refreshes the session with the password', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		const bad = await authed(svc(), s, '/v1/sessions/current/reauthenticate', { method: 'POST', body: { password: 'definitely wrong pw' } });
		assert.equal(bad.status, 401);
		assert.equal(errorObject(bad.body).code, 'invalid_credentials');
		const ok = await authed(svc(), s, '/v1/sessions/current/reauthenticate', { method: 'POST', body: { password: u.password } });
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
		assert.equal(ok.body.id, s.id);
	});

	test('password reset: always 202 with one body; the mailed code works once and ends every session', async () => {
		const u = await signup(svc());
		const s = await login(svc(), u.email, u.password);
		const seen = await mailSeen(h.inst);
		const known = await postJson(svc(), '/v1/password/reset', { email: u.email });
		const unknown = await postJson(svc(), '/v1/password/reset', { email: freshEmail('ghost') });
		assert.equal(known.status, 202);
		assert.equal(unknown.status, 202);
		assert.deepEqual(known.body, unknown.body);
		const mail = await waitMail(h.inst, u.email, /Password reset code/, { after: seen });
		const code = codeIn(mail);

		const weak = await postJson(svc(), '/v1/password/reset/confirm', { token: code, new_password: 'Password123!' });
		assert.equal(weak.status, 400);
		assert.match(errorObject(weak.body).code, /^password_/);
		const wrongCode = await postJson(svc(), '/v1/password/reset/confirm', { token: 'AAAAA-BBBBB-CCCCC-DDDDD', new_password: 'reset to something long' });
		assert.equal(wrongCode.status, 400);
		assert.equal(errorObject(wrongCode.body).code, 'token_invalid');

		const ok = await postJson(svc(), '/v1/password/reset/confirm', { token: code, new_password: 'reset to something long' });
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
		assert.equal(ok.body.sessions_revoked, 1);
		assert.equal((await authed(svc(), s, '/v1/sessions')).status, 401);
		const reuse = await postJson(svc(), '/v1/password/reset/confirm', { token: code, new_password: 'and again something long' });
		assert.equal(reuse.status, 400);
		assert.equal(errorObject(reuse.body).code, 'token_invalid');
		await waitMail(h.inst, u.email, /password was changed/);
		await login(svc(), u.email, 'reset to something long');
	});
});
