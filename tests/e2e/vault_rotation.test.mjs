// SPDX-License-Identifier: Apache-2.0
//
// Key rotation does not strand cards: tokenize and store cards, rotate the
// vault's keys with `strongroom vault rotate-keys` while it runs (new data
// key and new RSA kid, the old kid accepted during its grace period),
// tokenize again with the new kid and with the old one, then charge every
// card and token made before and after. Finally re-wrap everything under a
// new KEK, restart the vault with it, and charge the old and new cards again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { withInstance, request, runBin, auditEvents, sleep } from './lib/harness.mjs';
import { cardFor, tokenize, fetchJwks } from './lib/card.mjs';

async function call(vault, sk, method, p, body) {
	const r = await request(vault, p, {
		method,
		headers: { Authorization: `Bearer ${sk}`, 'Content-Type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return { status: r.status, body: JSON.parse(r.text), text: r.text };
}

test('cards and tokens from before and after a key rotation (and a KEK re-wrap) all charge', async () => {
	await withInstance(
		{ services: ['vault'], configOverrides: { vault: { tokens_per_minute_per_ip: 100000, tokens_per_minute_per_card: 100000 } } },
		async (inst) => {
			const sk = inst.credentials.vault_secret_key;
			const pk = inst.credentials.vault_publishable_key;
			const cli = (args) => runBin(['vault', ...args, '--config', inst.configPath], { env: inst.dbEnv });
			const tok = async (vault, number, opts = {}) => {
				const r = await tokenize(vault, pk, cardFor(number), opts);
				assert.equal(r.status, 201, r.text);
				return r.body.id;
			};
			const makeCard = async (vault, token) => {
				const r = await call(vault, sk, 'POST', '/v1/cards', { token });
				assert.equal(r.status, 201, r.text);
				return r.body.id;
			};
			const charge = async (vault, source, amount = 1000) => {
				const r = await call(vault, sk, 'POST', '/v1/charges', { ...source, amount, currency: 'eur' });
				assert.equal(r.status, 201, `${JSON.stringify(source)}: ${r.text}`);
				assert.equal(r.body.status, 'succeeded');
				return r.body;
			};

			const before = await fetchJwks(inst.vault);
			assert.equal(before.keys.length, 1);
			const oldKid = before.keys[0].kid;
			const cardOld = await makeCard(inst.vault, await tok(inst.vault, '4242424242424242'));
			const debitOld = await makeCard(inst.vault, await tok(inst.vault, '4000056655665556'));
			const tokenOld = await tok(inst.vault, '5555555555554444'); // spent after the rotation

			const rot = await cli(['rotate-keys', '--rsa-grace-seconds', '3600']);
			assert.equal(rot.code, 0, rot.stderr + rot.stdout);
			const newKid = /new RSA kid (rk_\w+)/.exec(rot.stdout)?.[1];
			assert.ok(newKid, rot.stdout);

			// The running vault publishes the new kid first, the old one after it.
			let jwks;
			for (let i = 0; i < 20; i++) {
				jwks = await fetchJwks(inst.vault);
				if (jwks.keys.length === 2) break;
				await sleep(250);
			}
			assert.deepEqual(jwks.keys.map((k) => k.kid), [newKid, oldKid]);

			// Tokenize with the new kid, and with the old one (still in grace).
			const tokenNew = await tok(inst.vault, '378282246310005', { jwks, kidIndex: 0 });
			const tokenGrace = await tok(inst.vault, '6011111111111117', { jwks, kidIndex: 1 });
			const cardNew = await makeCard(inst.vault, tokenNew);
			const cardGrace = await makeCard(inst.vault, tokenGrace);

			await charge(inst.vault, { card: cardOld });
			await charge(inst.vault, { card: cardNew });
			await charge(inst.vault, { card: cardGrace });
			const byToken = await charge(inst.vault, { token: tokenOld });
			assert.equal(byToken.card.last4, '4444');
			const payout = await call(inst.vault, sk, 'POST', '/v1/payouts', { card: debitOld, amount: 500, currency: 'eur' });
			assert.equal(payout.status, 201, payout.text);
			assert.equal(payout.body.status, 'paid');

			// Re-wrap every key under a new KEK, then restart the vault with it.
			const newKek = path.join(inst.root, 'new-kek.key');
			await writeFile(newKek, randomBytes(32), { mode: 0o400 });
			const rw = await cli(['rotate-keys', '--new-kek-file', newKek, '--rewrap-only']);
			assert.equal(rw.code, 0, rw.stderr + rw.stdout);
			await inst.vault.stop();
			const vault = await inst.startService('vault', { extraEnv: { STRONGROOM_VAULT_KEK_FILE: newKek } });
			for (const card of [cardOld, cardNew, cardGrace]) await charge(vault, { card }, 2000);
			const actions = (await auditEvents(vault, sk)).map((e) => e.action);
			assert.ok(actions.includes('keys.rotate') && actions.includes('keys.rewrap'));
			assert.equal(actions.filter((a) => a === 'charge.succeeded').length, 7);
		},
	);
});
