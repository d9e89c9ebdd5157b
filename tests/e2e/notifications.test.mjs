// SPDX-License-Identifier: Apache-2.0
//
// Notifications as an operator sees them at start-up: genuine mail comes
// only from the marketplace's official domains, so a platform configured to
// send from anywhere else refuses to start and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createInstance, spawnService, freePort } from './lib/harness.mjs';

test('the platform refuses to start with a From outside [email] official_domains', async () => {
	const inst = await createInstance();
	try {
		const svc = spawnService('platform', {
			config: inst.configPath, port: await freePort(), ca: inst.caCert,
			env: { ...inst.dbEnv, STRONGROOM_EMAIL_FROM: 'Support <help@evil.example>' },
		});
		await svc.waitExit(20000);
		assert.notEqual(svc.exit.code, 0);
		assert.match(svc.stderr, /evil\.example is not one of \[email\] official_domains/);

		// The same instance starts once From is on an official domain.
		const ok = spawnService('platform', {
			config: inst.configPath, port: await freePort(), ca: inst.caCert,
			env: { ...inst.dbEnv, STRONGROOM_EMAIL_FROM: 'Payments <payments@pay.example>', STRONGROOM_EMAIL_OFFICIAL_DOMAINS: 'pay.example', STRONGROOM_EMAIL_DKIM_DOMAIN: 'pay.example' },
		});
		await ok.waitForLog((l) => l.msg === 'database ready', { timeoutMs: 20000 });
		await ok.stop();
		assert.equal(ok.exit.code, 0, ok.stderr);
	} finally {
		await inst.dispose();
	}
});

test('the platform exports notification delivery counters for alerting', async () => {
	const { withInstance, request } = await import('./lib/harness.mjs');
	await withInstance({ services: ['platform'] }, async (inst) => {
		const r = await request(inst.platform, '/metrics');
		assert.equal(r.status, 200);
		for (const outcome of ['sent', 'retried', 'failed', 'lease_lost'])
			assert.match(r.text, new RegExp(`^sr_notifications_total\\{outcome="${outcome}"\\} 0$`, 'm'));
	});
});
