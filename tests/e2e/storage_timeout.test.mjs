// SPDX-License-Identifier: Apache-2.0
//
// [database] statement_timeout_ms as a client and an operator see it: a
// request whose query hangs (here: blocked behind a lock someone holds on
// the audit table) is answered 503 service_unavailable with the standard
// error object and Retry-After once the limit passes, instead of holding
// the connection and a worker until the lock goes; the log says why; and
// the same service answers the same request normally afterwards. SQLite has
// no statement timeout, so this runs on PostgreSQL only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKEND, withInstance, request, run, sleep, sqlOn, errorObject } from './lib/harness.mjs';

test('a query past statement_timeout_ms is answered 503 and the service recovers', {
	skip: BACKEND !== 'postgres' && 'PostgreSQL only: SQLite has no statement timeout',
}, async () => {
	await withInstance({ services: ['vault'], configOverrides: { database: { statement_timeout_ms: 500 } } }, async (inst) => {
		const v = inst.vault;
		const auth = { headers: { Authorization: `Bearer ${inst.credentials.vault_secret_key}` } };
		assert.equal((await request(v, '/v1/audit_events?limit=1', auth)).status, 200);

		// An operator's session holds the audit table for 4 s.
		const url = inst.dbEnv.STRONGROOM_VAULT_DATABASE_URL;
		const locker = run('psql', [url, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c',
			'BEGIN; LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;']);
		const held = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock' AND granted AND relation = 'audit_log'::regclass";
		for (let i = 0; (await sqlOn(inst, 'vault', held)) !== '1'; i++) {
			assert.ok(i < 100, 'the lock was never taken');
			await sleep(20);
		}

		const t0 = Date.now();
		const r = await request(v, '/v1/audit_events?limit=1', auth);
		const took = Date.now() - t0;
		assert.equal(r.status, 503, r.text);
		const e = errorObject(r.json());
		assert.equal(e.type, 'api_error');
		assert.equal(e.code, 'service_unavailable');
		assert.equal(r.headers['retry-after'], '1');
		assert.ok(took >= 400 && took < 3500, `answered after ${took} ms, not at the 500 ms limit`);
		assert.ok(v.logs.some((l) => l.msg === 'postgres statement cancelled' && l.statement_timeout_ms === 500));

		const done = await locker;
		assert.equal(done.code, 0, done.stderr);
		const again = await request(v, '/v1/audit_events?limit=1', auth);
		assert.equal(again.status, 200, again.text);
	});
});
