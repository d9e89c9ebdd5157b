// SPDX-License-Identifier: Apache-2.0
//
// Storage and the audit log as an operator and an auditor see them, on the
// backend chosen by SR_TEST_BACKEND: a service opens and migrates its own
// database, refuses the other service's and a newer schema, records its
// start and stop and every failed authentication, serves its audit log over
// the API, and `strongroom audit verify` finds the log intact after a
// kill -9 in the middle of a burst of audited writes, with every write a
// client saw acknowledged still there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import path from 'node:path';
import {
	BACKEND, withInstance, createInstance, request, runBin, run, spawnService, freePort, sleep, auditEvents, sqlOn,
} from './lib/harness.mjs';

const BAD_KEY = 'sk_test_' + 'x'.repeat(43);

function secretKey(inst, service) {
	return service === 'platform' ? inst.credentials.platform_secret_key : inst.credentials.vault_secret_key;
}

// One SQL statement on a service's database, as an attacker or an operator
// with direct database access would.
const sql = sqlOn;

function cli(inst, args) {
	return runBin([...args, '--config', inst.configPath], { env: inst.dbEnv });
}


test('each service records its start and stop; audit verify and tail see them', async () => {
	const inst = await createInstance();
	try {
		for (const name of ['platform', 'vault']) {
			const port = await freePort();
			const svc = spawnService(name, { config: inst.configPath, port, ca: inst.caCert, env: inst.dbEnv });
			await svc.waitForLog((l) => l.msg === 'database ready', { timeoutMs: 20000 });
			await svc.stop();
			assert.equal(svc.exit.code, 0);

			const v = await cli(inst, ['audit', 'verify', '--service', name]);
			assert.equal(v.code, 0, v.stderr + v.stdout);
			// The vault also records opening its key ring.
			const expected = name === 'vault' ? ['keyring.open', 'service.start', 'service.stop'] : ['service.start', 'service.stop'];
			assert.match(v.stdout, new RegExp(`${name} audit log intact: ${expected.length} records`));

			const t = await cli(inst, ['audit', 'tail', '--service', name, '--json']);
			assert.equal(t.code, 0, t.stderr);
			const actions = t.stdout.trim().split('\n').map((l) => JSON.parse(l).action);
			assert.deepEqual(actions.sort(), expected);
		}
	} finally {
		await inst.dispose();
	}
});

test('GET /v1/audit_events: 401 audited, list with paging, parameters checked, keys never logged', async () => {
	await withInstance({ services: ['platform', 'vault'] }, async (inst) => {
		for (const name of ['platform', 'vault']) {
			const S = inst[name];
			const key = secretKey(inst, name);

			const none = await request(S, '/v1/audit_events', { headers: { 'X-Request-Id': `nokey-${name}` } });
			assert.equal(none.status, 401);
			assert.equal(none.json().error.type, 'authentication_error');
			assert.equal(none.json().error.code, 'invalid_api_key');
			assert.match(none.headers['www-authenticate'], /^Bearer/);

			const bad = await request(S, '/v1/audit_events', { headers: { Authorization: `Bearer ${BAD_KEY}`, 'X-Request-Id': `badkey-${name}` } });
			assert.equal(bad.status, 401);

			if (name === 'vault') {
				// A publishable key is for tokenization only.
				const pk = await request(S, '/v1/audit_events', { headers: { Authorization: `Bearer ${inst.credentials.vault_publishable_key}` } });
				assert.equal(pk.status, 401);
			}
			// The platform's key does not open the vault and the reverse.
			const other = name === 'platform' ? inst.credentials.vault_secret_key : inst.credentials.platform_secret_key;
			assert.equal((await request(S, '/v1/audit_events', { headers: { Authorization: `Bearer ${other}` } })).status, 401);

			const ok = await request(S, '/v1/audit_events?limit=2', { headers: { Authorization: `Bearer ${key}` } });
			assert.equal(ok.status, 200, ok.text);
			const page = ok.json();
			assert.equal(page.object, 'list');
			assert.equal(page.data.length, 2);
			assert.equal(page.has_more, true);
			assert.ok(page.data[0].seq > page.data[1].seq, 'newest first');
			const ev = page.data[0];
			assert.equal(ev.object, 'audit_event');
			assert.equal(ev.id, `ae_${ev.seq}`);
			assert.match(ev.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

			const events = await auditEvents(S, key);
			const seqs = events.map((e) => e.seq);
			assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'contiguous from 1');
			assert.equal(events[0].action, 'service.start');
			const failures = events.filter((e) => e.action === 'auth.failure');
			const fNone = failures.find((e) => e.request_id === `nokey-${name}`);
			const fBad = failures.find((e) => e.request_id === `badkey-${name}`);
			assert.ok(fNone && fBad, 'both failed authentications are on record');
			assert.equal(fNone.actor.id, 'anonymous');
			assert.match(fBad.actor.id, /^key_[0-9a-f]{12}$/);
			assert.equal(fBad.outcome, 'denied');
			assert.equal(fBad.ip, '127.0.0.1');
			assert.ok(events.some((e) => e.action === 'audit.read' && e.outcome === 'success'));

			for (const q of ['limit=0', 'limit=101', 'limit=abc', 'starting_after=-1', 'limit=1&limit=2']) {
				const r = await request(S, `/v1/audit_events?${q}`, { headers: { Authorization: `Bearer ${key}` } });
				assert.equal(r.status, 400, q);
				assert.equal(r.json().error.type, 'invalid_request_error');
				assert.ok(['limit', 'starting_after'].includes(r.json().error.param), q);
			}
			assert.equal((await request(S, '/v1/audit_events', { method: 'POST', headers: { Authorization: `Bearer ${key}` } })).status, 405);

			const logs = S.stderr;
			for (const secret of [key, BAD_KEY, other]) assert.ok(!logs.includes(secret), 'no API key in the logs');
			const body = JSON.stringify(events);
			for (const secret of [key, BAD_KEY, other]) assert.ok(!body.includes(secret), 'no API key in the audit log');
		}
	});
});

test('the platform and the vault never share a database', async () => {
	const inst = await createInstance();
	try {
		const plat = spawnService('platform', { config: inst.configPath, port: await freePort(), ca: inst.caCert, env: inst.dbEnv });
		await plat.waitForLog((l) => l.msg === 'database ready', { timeoutMs: 20000 });
		await plat.stop();

		const platformUrl = BACKEND === 'postgres' ? inst.dbEnv.STRONGROOM_PLATFORM_DATABASE_URL : 'sqlite:platform.db';
		const vault = spawnService('vault', {
			config: inst.configPath, port: await freePort(), ca: inst.caCert,
			env: { ...inst.dbEnv, STRONGROOM_VAULT_DATABASE_URL: platformUrl },
		});
		await vault.waitExit(20000);
		assert.notEqual(vault.exit.code, 0);
		assert.match(vault.stderr, /platform/);
		assert.match(vault.stderr, /never share/);

		const m = await runBin(['migrate', '--config', inst.configPath, '--service', 'vault'], {
			env: { ...inst.dbEnv, STRONGROOM_VAULT_DATABASE_URL: platformUrl },
		});
		assert.notEqual(m.code, 0);
		assert.match(m.stderr, /never share/);
	} finally {
		await inst.dispose();
	}
});

test('strongroom migrate applies once; a newer schema is refused by migrate and by the service', async () => {
	const inst = await createInstance();
	try {
		const first = await cli(inst, ['migrate', '--service', 'platform']);
		assert.equal(first.code, 0, first.stderr);
		assert.match(first.stdout, /platform: schema at version \d+ \(applied [1-9]\d*\)/);
		const again = await cli(inst, ['migrate', '--service', 'platform']);
		assert.equal(again.code, 0, again.stderr);
		assert.match(again.stdout, /\(applied 0\)/);

		await sql(inst, 'platform', "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', '2030-01-01T00:00:00Z')");
		const newer = await cli(inst, ['migrate', '--service', 'platform']);
		assert.notEqual(newer.code, 0);
		assert.match(newer.stderr, /schema version 9999 is newer than this binary/);

		const svc = spawnService('platform', { config: inst.configPath, port: await freePort(), ca: inst.caCert, env: inst.dbEnv });
		await svc.waitExit(20000);
		assert.notEqual(svc.exit.code, 0);
		assert.match(svc.stderr, /newer than this binary/);
	} finally {
		await inst.dispose();
	}
});

test('audit verify names a record changed directly in the database', async () => {
	await withInstance({ services: ['platform'] }, async (inst) => {
		const P = inst.platform;
		for (let i = 0; i < 5; i++)
			assert.equal((await request(P, '/v1/audit_events', { headers: { Authorization: `Bearer ${BAD_KEY}` } })).status, 401);
		await P.stop();
		const ok = await cli(inst, ['audit', 'verify', '--service', 'platform']);
		assert.equal(ok.code, 0, ok.stderr + ok.stdout);

		await sql(inst, 'platform', "UPDATE audit_log SET ip = '10.9.9.9' WHERE seq = 3");
		const bad = await cli(inst, ['audit', 'verify', '--service', 'platform']);
		assert.notEqual(bad.code, 0);
		assert.match(bad.stdout + bad.stderr, /seq 3\b.*changed/);
	});
});

test('kill -9 during a burst of audited writes: log intact, no acknowledged write lost', async () => {
	// The burst is all failed authentications from one address: lift the
	// per-address limit so each one is answered 401 and audited.
	await withInstance({ services: ['platform'], env: { STRONGROOM_AUDIT_CHECKPOINT_INTERVAL_S: '1', STRONGROOM_LIMITS_AUTH_FAILURES_PER_MINUTE: '100000' } }, async (inst) => {
		const P = inst.platform;
		const acknowledged = new Set();
		let stop = false;
		const worker = async (w) => {
			const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: P.ca, servername: 'localhost' });
			for (let n = 0; !stop && n < 2000; n++) {
				const id = `crash-${w}-${n}`;
				try {
					const r = await request(P, '/v1/audit_events', { agent, timeout: 5000, headers: { Authorization: `Bearer ${BAD_KEY}`, 'X-Request-Id': id } });
					if (r.status === 401) acknowledged.add(id);
				} catch {
					break; // the server is gone
				}
			}
			agent.destroy();
		};
		const workers = Array.from({ length: 8 }, (_, w) => worker(w));
		// Let the burst run past at least one checkpoint, then pull the plug.
		const t0 = Date.now();
		while (acknowledged.size < 150 && Date.now() - t0 < 20000) await sleep(20);
		await sleep(1200);
		P.kill('SIGKILL');
		stop = true;
		await Promise.all(workers);
		await P.waitExit(10000);
		assert.equal(P.exit.signal, 'SIGKILL');
		assert.ok(acknowledged.size >= 150, `only ${acknowledged.size} writes acknowledged before the kill`);

		// Verification before restart: the crash left a consistent log.
		const v1 = await cli(inst, ['audit', 'verify', '--service', 'platform']);
		assert.equal(v1.code, 0, v1.stderr + v1.stdout);

		// Restart on the same database; every acknowledged failure is on record, once.
		const R = await inst.startService('platform');
		const events = await auditEvents(R, inst.credentials.platform_secret_key);
		const seen = new Map();
		for (const e of events) if (e.request_id.startsWith('crash-')) seen.set(e.request_id, (seen.get(e.request_id) || 0) + 1);
		const missing = [...acknowledged].filter((id) => !seen.has(id));
		assert.deepEqual(missing, [], `${missing.length} acknowledged audit writes are missing`);
		assert.ok([...seen.values()].every((n) => n === 1), 'no request recorded twice');
		await R.stop();

		const v2 = await cli(inst, ['audit', 'verify', '--service', 'platform']);
		assert.equal(v2.code, 0, v2.stderr + v2.stdout);
		assert.match(v2.stdout, /intact/);
	});
});

test('failed authentications past the per-address limit get 429 and do not grow the audit log', async () => {
	await withInstance({ services: ['platform'], env: { STRONGROOM_LIMITS_AUTH_FAILURES_PER_MINUTE: '5' } }, async (inst) => {
		const P = inst.platform;
		const statuses = [];
		for (let i = 0; i < 8; i++) {
			const r = await request(P, '/v1/audit_events', { headers: { Authorization: `Bearer ${BAD_KEY}`, 'X-Request-Id': `flood-${i}` } });
			statuses.push(r.status);
			if (r.status === 429) {
				assert.equal(r.json().error.type, 'rate_limit_error');
				assert.ok(Number(r.headers['retry-after']) >= 1);
			}
		}
		assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
		// The right key still works from the same address.
		const events = await auditEvents(P, inst.credentials.platform_secret_key);
		const flood = events.filter((e) => e.request_id.startsWith('flood-'));
		assert.deepEqual(flood.map((e) => e.request_id), ['flood-0', 'flood-1', 'flood-2', 'flood-3', 'flood-4']);
	});
});
