// SPDX-License-Identifier: Apache-2.0
//
// The vault's key ring as a browser and an operator see it, on the backend
// chosen by SR_TEST_BACKEND: the public JWKS (RSA-2048, cacheable, usable by
// WebCrypto for RSA-OAEP-256), vault-only; `strongroom vault rotate-keys`
// while the vault runs (new kid published, old one kept), a KEK re-wrap
// after which only the new KEK file opens the vault; `strongroom vault
// init-shares --out-dir`; and an audit log that stays intact and records
// all of it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto, randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
	startInstance, request, runBin, spawnService, freePort, sleep, waitReady, auditEvents,
} from './lib/harness.mjs';

function b64url(s) {
	return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

async function jwks(vault) {
	const r = await request(vault, '/v1/jwks.json');
	assert.equal(r.status, 200, r.text);
	return { r, body: r.json() };
}

function checkKey(k) {
	assert.equal(k.kty, 'RSA');
	assert.equal(k.use, 'enc');
	assert.equal(k.alg, 'RSA-OAEP-256');
	assert.match(k.kid, /^rk_/);
	const n = b64url(k.n);
	assert.equal(n.length, 256, '2048-bit modulus');
	assert.ok(n[0] & 0x80, 'top bit set: a full 2048-bit modulus');
	assert.equal(b64url(k.e).toString('hex'), '010001');
}

test('GET /v1/jwks.json: public RSA-2048 keys, cacheable, vault only, usable by WebCrypto', async () => {
	const inst = await startInstance();
	try {
		const { r, body } = await jwks(inst.vault);
		assert.match(r.headers['content-type'], /^application\/json/);
		assert.equal(r.headers['cache-control'], 'public, max-age=300');
		assert.equal(body.keys.length, 1);
		checkKey(body.keys[0]);
		// No private parts in a public key set.
		for (const f of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(f in body.keys[0]), f);

		// The platform does not serve it.
		const p = await request(inst.platform, '/v1/jwks.json');
		assert.equal(p.status, 404);

		// The browser path: import the JWK for RSA-OAEP-256 and wrap an A256GCM
		// content key, as a JWE would.
		const { subtle } = webcrypto;
		const { kid, ...jwk } = body.keys[0];
		const pub = await subtle.importKey('jwk', { ...jwk, ext: true }, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt', 'wrapKey']);
		assert.equal(pub.algorithm.modulusLength, 2048);
		const cek = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
		const wrapped = await subtle.wrapKey('raw', cek, pub, { name: 'RSA-OAEP' });
		assert.equal(wrapped.byteLength, 256);
		assert.ok(kid);
	} finally {
		await inst.stop();
	}
});


test('rotate-keys while the vault runs; KEK re-wrap; only the new KEK opens it afterwards', async () => {
	const inst = await startInstance({ services: ['vault'] });
	const cli = (args) => runBin(['vault', ...args, '--config', inst.configPath], { env: inst.dbEnv });
	try {
		const before = (await jwks(inst.vault)).body.keys;
		assert.equal(before.length, 1);
		const oldKid = before[0].kid;

		const rot = await cli(['rotate-keys', '--rsa-grace-seconds', '3600']);
		assert.equal(rot.code, 0, rot.stderr + rot.stdout);
		assert.match(rot.stdout, /new RSA kid rk_/);

		// The running vault publishes the new kid (first) and keeps the old one.
		let keys = [];
		const deadline = Date.now() + 4000;
		while (Date.now() < deadline) {
			keys = (await jwks(inst.vault)).body.keys;
			if (keys.length === 2) break;
			await sleep(250);
		}
		assert.equal(keys.length, 2, `two kids within ~2 s: ${JSON.stringify(keys.map((k) => k.kid))}`);
		assert.notEqual(keys[0].kid, oldKid, 'the new kid is listed first');
		assert.equal(keys[1].kid, oldKid, 'the old kid stays during its grace period');
		keys.forEach(checkKey);

		// Re-wrap under a new KEK.
		const newKek = path.join(inst.root, 'new-kek.key');
		await writeFile(newKek, randomBytes(32), { mode: 0o400 });
		const rw = await cli(['rotate-keys', '--new-kek-file', newKek]);
		assert.equal(rw.code, 0, rw.stderr + rw.stdout);
		assert.match(rw.stderr, /re-wrapping keys: (\d+)\/\1 \[=+\]/, 'progress reaches the total');
		assert.match(rw.stdout, /Re-wrap complete/);
		// Without --rewrap-only the same run rotated once more, before the re-wrap.
		const thirdKid = /new RSA kid (rk_\w+)/.exec(rw.stdout)[1];
		assert.match(rw.stdout, /kek_file/);

		// The vault still running with the old KEK keeps serving the keys it
		// had already unwrapped (the re-wrap is online), even after it
		// reloads from the database.
		await sleep(1500);
		const during = await jwks(inst.vault);
		assert.ok(during.body.keys.length >= 1);
		const known = new Set([oldKid, keys[0].kid, thirdKid]);
		for (const k of during.body.keys) assert.ok(known.has(k.kid), `unexpected kid ${k.kid}`);

		// The audit log (read while the vault still runs) has it all.
		const actions = (await auditEvents(inst.vault, inst.credentials.vault_secret_key)).map((e) => e.action);
		for (const a of ['keyring.open', 'keys.rotate', 'keys.rewrap']) assert.ok(actions.includes(a), `${a} in ${actions}`);
		await inst.vault.stop();
		assert.equal(inst.vault.exit.code, 0);

		// The old KEK file no longer opens the vault: it refuses to start, saying why.
		const port = await freePort();
		const old = spawnService('vault', { config: inst.configPath, port, ca: inst.caCert, env: inst.dbEnv });
		const ex = await old.waitExit(20000);
		assert.notEqual(ex.code, 0);
		assert.ok(old.logs.some((l) => /refusing to start/.test(l.msg ?? '') && /not the KEK of this vault/.test(l.error ?? '')), old.stderr);
		assert.ok(!old.logs.some((l) => l.msg === 'ready'));

		// With STRONGROOM_VAULT_KEK_FILE at the new file it serves both kids.
		const v2 = await inst.startService('vault', { extraEnv: { STRONGROOM_VAULT_KEK_FILE: newKek } });
		const after = (await jwks(v2)).body.keys.map((k) => k.kid);
		// The active kid first; retiring kids follow in no documented order.
		assert.equal(after[0], thirdKid, 'the active kid first');
		assert.deepEqual(after.slice(1).sort(), keys.map((k) => k.kid).sort(), 'every kid within its grace');
		await v2.stop();

		const verify = await runBin(['audit', 'verify', '--service', 'vault', '--config', inst.configPath], { env: inst.dbEnv });
		assert.equal(verify.code, 0, verify.stderr + verify.stdout);
		assert.match(verify.stdout, /intact/);
	} finally {
		await inst.stop();
	}
});

test('init-shares --out-dir: N distinct 0400 share files, none printed', async () => {
	const inst = await startInstance({ services: ['vault'] });
	try {
		const out = path.join(inst.root, 'shares');
		const r = await runBin(['vault', 'init-shares', '--config', inst.configPath, '--shares', '5', '--threshold', '3', '--out-dir', out], { env: inst.dbEnv });
		assert.equal(r.code, 0, r.stderr + r.stdout);
		const files = (await readdir(out)).sort();
		assert.deepEqual(files, ['share-1.txt', 'share-2.txt', 'share-3.txt', 'share-4.txt', 'share-5.txt']);
		const texts = [];
		for (const f of files) {
			const st = await stat(path.join(out, f));
			assert.equal(st.mode & 0o777, 0o400, `${f} mode`);
			const t = (await readFile(path.join(out, f), 'utf8')).trim();
			assert.match(t, /^srs1-3-[1-5]-[a-z2-7]{52}-[a-z2-7]{8}$/);
			texts.push(t);
		}
		assert.equal(new Set(texts).size, 5, 'each file a different share');
		for (const t of texts) {
			assert.ok(!r.stdout.includes(t) && !r.stderr.includes(t), 'a share was printed');
			// Nor its body alone (in another case or spacing).
			const body = t.split('-')[3];
			assert.ok(!r.stdout.toLowerCase().includes(body) && !r.stderr.toLowerCase().includes(body));
		}
		// Never overwrites a share of an earlier split.
		const again = await runBin(['vault', 'init-shares', '--config', inst.configPath, '--shares', '5', '--threshold', '3', '--out-dir', out], { env: inst.dbEnv });
		assert.notEqual(again.code, 0);
		assert.match(again.stderr, /refusing to overwrite/);
		assert.equal((await readFile(path.join(out, 'share-1.txt'), 'utf8')).trim(), texts[0]);

		// Bad arguments are usage errors.
		const bad = await runBin(['vault', 'init-shares', '--config', inst.configPath, '--shares', '2', '--threshold', '3']);
		assert.equal(bad.code, 2);

		const ev = (await auditEvents(inst.vault, inst.credentials.vault_secret_key)).filter((e) => e.action === 'keys.init_shares');
		assert.ok(ev.some((e) => e.outcome === 'success' && e.details.m === 3 && e.details.n === 5), JSON.stringify(ev));
	} finally {
		await inst.stop();
	}
});
