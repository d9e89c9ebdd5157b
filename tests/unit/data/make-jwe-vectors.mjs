// SPDX-License-Identifier: Apache-2.0
// Makes the WebCrypto JWE test vectors once, independent of strongroom's own
// C encoder, exactly as a browser's strongroom.js would: RSA-OAEP-256 wraps a
// random 256-bit CEK, AES-256-GCM with a 96-bit IV encrypts the card JSON
// with the ASCII base64url protected header as AAD (RFC 7516 §5.1).
//
//   node tests/unit/data/make-jwe-vectors.mjs
//
// Writes, next to this script: jwe-test-key.pem (a throwaway RSA-2048 test
// key, PKCS#8, never used outside tests), jwe-webcrypto-*.jwe, and copies of
// the JWEs into tests/fuzz/corpus/fuzz_jwe/. Re-running makes a new key and
// new vectors; tests/fuzz/fuzz_jwe.c embeds the key, so update it too.
import { webcrypto as crypto } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = join(here, '..', '..', 'fuzz', 'corpus', 'fuzz_jwe');
const b64u = (buf) => Buffer.from(buf).toString('base64url');

const pair = await crypto.subtle.generateKey(
  { name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  true, ['encrypt', 'decrypt']);
const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey)).toString('base64');
const pem = '-----BEGIN PRIVATE KEY-----\n' + pkcs8.match(/.{1,64}/g).join('\n') + '\n-----END PRIVATE KEY-----\n';
writeFileSync(join(here, 'jwe-test-key.pem'), pem);

async function jwe(header, payload) {
  const protectedB64 = b64u(new TextEncoder().encode(JSON.stringify(header)));
  const cek = crypto.getRandomValues(new Uint8Array(32));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ek = await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, pair.publicKey, cek);
  const aesKey = await crypto.subtle.importKey('raw', cek, 'AES-GCM', false, ['encrypt']);
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(protectedB64), tagLength: 128 },
    aesKey, new TextEncoder().encode(JSON.stringify(payload))));
  const ct = sealed.slice(0, sealed.length - 16), tag = sealed.slice(sealed.length - 16);
  return [protectedB64, b64u(ek), b64u(iv), b64u(ct), b64u(tag)].join('.');
}

const header = { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'test-kid-1' };
const vectors = {
  'jwe-webcrypto-visa.jwe': [header, { number: '4242 4242 4242 4242', exp_month: 12, exp_year: 2099,
    cvc: '123', name: 'Jane Q. Public', nonce: 'AAECAwQFBgcICQoLDA0ODw', iat: 1700000000 }],
  'jwe-webcrypto-amex.jwe': [{ ...header, typ: 'JWE' }, { number: '378282246310005', exp_month: '01',
    exp_year: '99', cvc: '1234', nonce: 'ZmVkY2JhOTg3NjU0MzIxMA', iat: 1700000001 }],
  'jwe-webcrypto-expired.jwe': [header, { number: '5555555555554444', exp_month: 1, exp_year: 2001,
    cvc: '123', name: 'Expired', nonce: 'bm9uY2Vub25jZW5vbmNl', iat: 1700000002 }],
};
mkdirSync(corpus, { recursive: true });
for (const [name, [h, p]] of Object.entries(vectors)) {
  const s = await jwe(h, p);
  writeFileSync(join(here, name), s);
  writeFileSync(join(corpus, name.replace('.jwe', '')), s);
}
