// SPDX-License-Identifier: Apache-2.0
//
// Part of bench/tokens.sh: writes COUNT distinct card JWEs, one per line, for
// the vault whose JWKS is in JWKS_FILE, exactly as the browser iframe builds
// them (tests/e2e/lib/card.mjs): RSA-OAEP-256 + A256GCM, a fresh nonce each,
// iat = now. The cards cycle through the approved test cards.
//
//   node bench/tokens_jwe.mjs JWKS_FILE COUNT OUT_FILE
import { readFile, open } from 'node:fs/promises';
import { encryptJwe, cardFor, newNonce, TEST_CARDS } from '../tests/e2e/lib/card.mjs';

const [jwksFile, countArg, outFile] = process.argv.slice(2);
const count = Number(countArg);
if (!jwksFile || !outFile || !(count > 0)) {
	console.error('usage: node bench/tokens_jwe.mjs JWKS_FILE COUNT OUT_FILE');
	process.exit(2);
}
const jwk = JSON.parse(await readFile(jwksFile, 'utf8')).keys[0];
const cards = TEST_CARDS.filter((c) => c.outcome === 'success');
const iat = Math.floor(Date.now() / 1000);
const out = await open(outFile, 'w');
const batch = [];
for (let i = 0; i < count; i++) {
	const card = cardFor(cards[i % cards.length].number);
	batch.push(encryptJwe(jwk, { ...card, nonce: newNonce(), iat }));
	if (batch.length === 256 || i === count - 1) {
		await out.write((await Promise.all(batch)).join('\n') + '\n');
		batch.length = 0;
	}
}
await out.close();
