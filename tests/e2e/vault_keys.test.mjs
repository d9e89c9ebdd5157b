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
	startInstance, request, runBin, spawnService, freePort, sleep, waitReady,
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
