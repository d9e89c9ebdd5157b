// SPDX-License-Identifier: Apache-2.0
//
// The accounts' defences as an attacker and an operator see them, with
// short test settings: 10 failed sign-ins lock an account (and an unknown
// address behaves identically), the lock mails the member and runs out;
// a progressive delay before the lock; a per-address limit; sessions end
// after the idle and absolute timeouts; staff created with `strongroom user
// create` (password on stdin) must set up a second factor first; and no
// password, name or address is found in the clear in the database or logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { BACKEND, withInstance, errorObject, runBin, run, sleep, auditEvents } from './lib/harness.mjs';
import {
	GOOD_PASSWORD, freshEmail, postJson, signup, login, authed, waitMail, codeIn,
} from './lib/accounts.mjs';

const base = { notify: { poll_ms: 50 } };

test('10 failures lock the account (mail sent, right password refused) until the lock runs out; unknown addresses look the same', async () => {
	await withInstance({ services: ['platform'], configOverrides: { ...base, accounts: { delay_step_ms: 0, lockout_duration_s: 3 } } }, async (inst) => {
		const svc = inst.platform;
		const u = await signup(svc);
		const ghost = freshEmail('ghost');
		for (let i = 1; i <= 10; i++) {
			const a = await postJson(svc, '/v1/sessions', { email: u.email, password: `wrong password no ${i}` });
			const b = await postJson(svc, '/v1/sessions', { email: ghost, password: `wrong password no ${i}` });
			assert.equal(a.status, 401, `attempt ${i}: ${JSON.stringify(a.body)}`);
			assert.deepEqual(a.body, b.body);
			assert.equal(b.status, 401);
		}
		const locked = await postJson(svc, '/v1/sessions', { email: u.email, password: u.password });
		const ghostLocked = await postJson(svc, '/v1/sessions', { email: ghost, password: 'whatever it is now' });
		assert.equal(locked.status, 429);
		assert.equal(ghostLocked.status, 429);
		assert.equal(errorObject(locked.body).code, 'account_locked');
		assert.equal(errorObject(ghostLocked.body).code, 'account_locked');
		assert.equal(errorObject(locked.body).type, errorObject(ghostLocked.body).type);
		assert.ok(Number(locked.headers['retry-after']) >= 1);
		assert.ok(Number(ghostLocked.headers['retry-after']) >= 1);

		await waitMail(inst, u.email, /account is locked/);
		const actions = (await auditEvents(svc, inst.credentials.platform_secret_key)).map((e) => e.action);
		assert.ok(actions.includes('account.locked'));
		assert.ok(actions.filter((a) => a === 'login.failure').length >= 20);
		// Audit details never hold the address itself.
		const text = JSON.stringify(await auditEvents(svc, inst.credentials.platform_secret_key));
		assert.ok(!text.includes(u.email) && !text.includes(ghost));

		await sleep(3300);
		const s = await login(svc, u.email, u.password);
		assert.equal(s.status, 201);
	});
});

test('progressive delay before the lock, and a per-address limit on failures', async () => {
	await withInstance({ services: ['platform'], configOverrides: { ...base, accounts: { delay_after: 2, delay_step_ms: 1500, ip_failures_per_hour: 7 } } }, async (inst) => {
		const svc = inst.platform;
		const u = await signup(svc);
		for (let i = 0; i < 3; i++) assert.equal((await postJson(svc, '/v1/sessions', { email: u.email, password: 'wrong wrong wrong' })).status, 401);
		const slow = await postJson(svc, '/v1/sessions', { email: u.email, password: u.password });
		assert.equal(slow.status, 429);
		assert.equal(errorObject(slow.body).code, 'too_many_attempts');
		assert.equal(slow.headers['retry-after'], '2');
		await sleep(1600);
		await login(svc, u.email, u.password); // success resets the count

		// Three more failures on other addresses reach the per-address limit (7, with the sign-up).
		for (let i = 0; i < 3; i++) assert.equal((await postJson(svc, '/v1/sessions', { email: freshEmail(), password: 'wrong wrong wrong' })).status, 401);
		const limited = await postJson(svc, '/v1/sessions', { email: u.email, password: u.password });
		assert.equal(limited.status, 429);
		assert.equal(errorObject(limited.body).code, 'too_many_requests');
		const reset = await postJson(svc, '/v1/password/reset/confirm', { token: 'AAAAA-BBBBB-CCCCC-DDDDD', new_password: 'some long new password' });
		assert.equal(reset.status, 429);
	});
});

test('sessions end after the idle timeout and after the absolute lifetime', async () => {
	await withInstance({ services: ['platform'], configOverrides: { ...base, sessions: { idle_timeout_s: 2, absolute_timeout_s: 5 } } }, async (inst) => {
		const svc = inst.platform;
		const u = await signup(svc);
		const idle = await login(svc, u.email, u.password);
		const busy = await login(svc, u.email, u.password);
		assert.equal((await authed(svc, idle, '/v1/sessions')).status, 200);
		const t0 = Date.now();
		let sawIdleEnd = false;
		while (Date.now() - t0 < 6500) {
			await sleep(900);
			const r = await authed(svc, busy, '/v1/sessions');
			if (Date.now() - t0 < 4000) assert.equal(r.status, 200, 'an active session lives on');
			if (!sawIdleEnd && Date.now() - t0 > 2500) {
				const i = await authed(svc, idle, '/v1/sessions');
				assert.equal(i.status, 401);
				assert.equal(errorObject(i.body).code, 'session_expired');
				sawIdleEnd = true;
			}
		}
		const end = await authed(svc, busy, '/v1/sessions');
		assert.equal(end.status, 401, 'absolute lifetime reached');
		assert.equal(errorObject(end.body).code, 'session_expired');
	});
});

test('`strongroom user create` reads the password from stdin; staff must set up a second factor first', async () => {
	await withInstance({ services: ['platform'], configOverrides: base }, async (inst) => {
		const svc = inst.platform;
		const email = freshEmail('admin');
		const argv = ['user', 'create', '--config', inst.configPath, '--role', 'admin', '--email', email, '--name', 'Ops Person'];
		const help = await runBin(['user', 'create', '--help']);
		assert.equal(help.code, 0);
		assert.match(help.stdout, /never an argument/);
		const asArg = await runBin([...argv, '--password', 'x'], { env: inst.dbEnv });
		assert.equal(asArg.code, 2);
		const weak = await runBin(argv, { env: inst.dbEnv, input: 'password\n' });
		assert.equal(weak.code, 1);
		assert.match(weak.stderr, /password refused/);
		const r = await runBin(argv, { env: inst.dbEnv, input: 'an admin passphrase that is long\n' });
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout.trim(), /^usr_[0-9a-f]{32}$/);
		const dup = await runBin(argv, { env: inst.dbEnv, input: 'an admin passphrase that is long\n' });
		assert.equal(dup.code, 1);

		const s = await login(svc, email, 'an admin passphrase that is long');
		assert.equal(s.body.user.role, 'admin');
		assert.equal(s.body.restricted, true);
		const change = await authed(svc, s, '/v1/password', { method: 'POST', body: { current_password: 'an admin passphrase that is long', new_password: 'another admin passphrase' } });
		assert.equal(change.status, 403);
		assert.equal(errorObject(change.body).code, 'mfa_enrollment_required');
		assert.equal((await authed(svc, s, '/v1/sessions')).status, 200);
	});
});

async function filesUnder(dir) {
	const out = [];
	for (const e of await readdir(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) out.push(...(await filesUnder(p)));
		else out.push(p);
	}
	return out;
}

test('no password, name, one-time code or address in the clear in the database or the logs', async () => {
	await withInstance({ services: ['platform'], configOverrides: base }, async (inst) => {
		const svc = inst.platform;
		const secrets = [];
		const email = freshEmail('scanme');
		const name = 'Zenobia Quixotic';
		const u = await signup(svc, { email, name, password: 'scan-me password one' });
		secrets.push('scan-me password one', name);
		const code = codeIn(await waitMail(inst, email, /Confirm your email/));
		secrets.push(code);
		await postJson(svc, '/v1/users/verify_email', { token: code });
		await postJson(svc, '/v1/sessions', { email, password: 'scan-me wrong guess' });
		secrets.push('scan-me wrong guess');
		const s = await login(svc, email, 'scan-me password one');
		await authed(svc, s, '/v1/password', { method: 'POST', body: { current_password: 'scan-me password one', new_password: 'scan-me password two' } });
		secrets.push('scan-me password two', s.csrf, s.cookie.split('=')[1]);
		await postJson(svc, '/v1/password/reset', { email });
		await sleep(300);
		await inst.platform.stop();

		// Logs: nothing at all.
		const logs = inst.platform.logs.map((l) => JSON.stringify(l)).join('\n') + (inst.platform.stderr ?? '');
		for (const x of [...secrets, email]) assert.ok(!logs.includes(x), `log holds ${x}`);

		// Database: the raw files (SQLite) or a dump (PostgreSQL).
		let blobs = [];
		let tablesDump;
		if (BACKEND === 'postgres') {
			const url = inst.dbEnv.STRONGROOM_PLATFORM_DATABASE_URL;
			const all = await run('pg_dump', [url]);
			assert.equal(all.code, 0, all.stderr);
			blobs.push(all.stdout);
			const noOutbox = await run('pg_dump', ['--exclude-table=outbox', url]);
			tablesDump = noOutbox.stdout;
		} else {
			for (const f of (await filesUnder(inst.dir)).filter((f) => /platform\.db/.test(f))) blobs.push((await readFile(f)).toString('latin1'));
			const d = await run('sqlite3', [path.join(inst.dir, 'platform.db'), '.dump']);
			tablesDump = d.stdout.split('\n').filter((l) => !l.startsWith('INSERT INTO outbox')).join('\n');
		}
		assert.ok(tablesDump.includes(u.id), 'the dump has the user');
		for (const b of blobs) for (const x of [...secrets.filter((x) => x !== code)]) assert.ok(!b.includes(x), `database holds ${x}`);
		// The address is sealed in every accounts table. (The outbox keeps the
		// recipient of each mail until the notifications work resolves it at
		// send time: docs/accounts.md, "Known gaps".)
		assert.ok(!tablesDump.includes(email), 'an accounts table holds the address in clear');
	});
});
