// SPDX-License-Identifier: Apache-2.0
//
// Card tokenization exactly as the browser iframe does it, with WebCrypto:
// fetch the vault's JWKS, import the first (active) RSA key for
// RSA-OAEP-256, build a compact JWE (alg RSA-OAEP-256, enc A256GCM, kid)
// over {number, exp_month, exp_year, cvc, name, nonce, iat}, and POST it to
// /v1/tokens with the publishable key. Shared by the tokens, payments,
// sealed-mode and hosted-form tests; keep the exports stable.
//
//   import { TEST_CARDS, cardFor, tokenize, encryptCard, fetchJwks } from './lib/card.mjs';
//   const { status, body } = await tokenize(inst.vault, inst.credentials.vault_publishable_key, cardFor('4242424242424242'));

import { webcrypto, randomBytes } from 'node:crypto';
import { request } from './harness.mjs';

const { subtle } = webcrypto;

/**
 * The test cards of shared/data/testvectors/cards.md and what the sandbox
 * does with them. outcome: 'success' | 'declined' | 'error' |
 * 'requires_authentication' (of a charge); code: the decline/error code
 * (null on success); payouts: eligible for push-to-card payouts;
 * tokenizes: passes the zero-amount verification of POST /v1/tokens (the
 * insufficient-funds card does: it declines only when money moves).
 */
export const TEST_CARDS = Object.freeze([
	{ number: '4242424242424242', brand: 'visa', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '4000056655665556', brand: 'visa', outcome: 'success', code: null, payouts: true, tokenizes: true },
	{ number: '5555555555554444', brand: 'mastercard', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '2223003122003222', brand: 'mastercard', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '5200828282828210', brand: 'mastercard', outcome: 'success', code: null, payouts: true, tokenizes: true },
	{ number: '378282246310005', brand: 'amex', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '6011111111111117', brand: 'discover', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '3056930009020004', brand: 'diners', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '3566002020360505', brand: 'jcb', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '6200000000000005', brand: 'unionpay', outcome: 'success', code: null, payouts: false, tokenizes: true },
	{ number: '4000000000000002', brand: 'visa', outcome: 'declined', code: 'generic_decline', payouts: false, tokenizes: false },
	{ number: '4000000000009995', brand: 'visa', outcome: 'declined', code: 'insufficient_funds', payouts: false, tokenizes: true },
	{ number: '4000000000000127', brand: 'visa', outcome: 'declined', code: 'incorrect_cvc', payouts: false, tokenizes: false },
	{ number: '4000000000000069', brand: 'visa', outcome: 'declined', code: 'expired_card', payouts: false, tokenizes: false },
	{ number: '4000000000000119', brand: 'visa', outcome: 'error', code: 'processing_error', payouts: false, tokenizes: false },
	{ number: '4000002760003184', brand: 'visa', outcome: 'requires_authentication', code: 'authentication_required', payouts: false, tokenizes: false },
]);

/** Sandbox payout amounts (minor units) that are approved, then fail / are returned later. */
export const PAYOUT_AMOUNT_FAILS = 1313;
export const PAYOUT_AMOUNT_RETURNS = 1414;

/** The card JSON a user would type: a valid expiry, a CVC of the brand's length. */
export function cardFor(number, overrides = {}) {
	const digits = number.replace(/\D/g, '');
	const amex = /^3[47]/.test(digits);
	return {
		number,
		exp_month: 12,
		exp_year: new Date().getUTCFullYear() + 3,
		cvc: amex ? '1234' : '123',
		name: 'Jenny Rosen',
		...overrides,
	};
}

export function b64url(buf) {
	return Buffer.from(buf).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** GET /v1/jwks.json; returns the key set. */
export async function fetchJwks(vault) {
	const r = await request(vault, '/v1/jwks.json');
	if (r.status !== 200) throw new Error(`GET /v1/jwks.json: ${r.status} ${r.text}`);
	return r.json();
}

/** A fresh payload nonce (base64url, 22 characters) as the iframe makes it. */
export function newNonce() {
	return b64url(randomBytes(16));
}

/**
 * Builds the compact JWE of payload (an object; or a string used as the
 * plaintext as is) for jwk (one key of the JWKS). opts.header overrides
 * protected-header members (alg, enc, kid...) for negative tests; the key
 * wrap itself is always RSA-OAEP-256 and the content cipher AES-256-GCM.
 */
export async function encryptJwe(jwk, payload, { header = {} } = {}) {
	const { kid, alg: _a, use: _u, ...pubJwk } = jwk;
	const pub = await subtle.importKey('jwk', { ...pubJwk, ext: true }, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
	const prot = { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid, ...header };
	for (const k of Object.keys(prot)) if (prot[k] === undefined) delete prot[k];
	const protB64 = b64url(Buffer.from(JSON.stringify(prot)));
	const cek = webcrypto.getRandomValues(new Uint8Array(32));
	const iv = webcrypto.getRandomValues(new Uint8Array(12));
	const encKey = Buffer.from(await subtle.encrypt({ name: 'RSA-OAEP' }, pub, cek));
	const aesKey = await subtle.importKey('raw', cek, { name: 'AES-GCM' }, false, ['encrypt']);
	const plain = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
	const sealed = Buffer.from(
		await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: Buffer.from(protB64, 'ascii'), tagLength: 128 }, aesKey, plain),
	);
	const ct = sealed.subarray(0, sealed.length - 16);
	const tag = sealed.subarray(sealed.length - 16);
	return [protB64, b64url(encKey), b64url(iv), b64url(ct), b64url(tag)].join('.');
}

/**
 * The JWE of card (from cardFor) with a fresh nonce and iat = now, unless
 * card already has them (pass nonce/iat to test replays and stale iat).
 * opts.header as for encryptJwe; opts.jwks to skip the fetch.
 */
export async function encryptCard(vault, card, { jwks, header, kidIndex = 0 } = {}) {
	const set = jwks ?? (await fetchJwks(vault));
	const payload = { nonce: newNonce(), iat: Math.floor(Date.now() / 1000), ...card };
	return encryptJwe(set.keys[kidIndex], payload, { header });
}

/**
 * POST /v1/tokens with body jwe (a string) and the given key;
 * {status, headers, body (parsed JSON or null), text}.
 */
export async function postToken(vault, key, jwe, { contentType = 'application/jose', headers = {}, agent } = {}) {
	const h = { 'Content-Type': contentType, ...headers };
	if (key !== null && key !== undefined) h.Authorization = `Bearer ${key}`;
	const r = await request(vault, '/v1/tokens', { method: 'POST', headers: h, body: jwe, agent });
	let body = null;
	try {
		body = JSON.parse(r.text);
	} catch {
		/* not JSON */
	}
	return { status: r.status, headers: r.headers, body, text: r.text };
}

/** Encrypts card like the iframe and posts it: the whole browser path. */
export async function tokenize(vault, pk, card, opts = {}) {
	const jwe = await encryptCard(vault, card, opts);
	return postToken(vault, pk, jwe, opts);
}

/** tokenize() for a card that must succeed; returns the token id (tok_…). */
export async function tokenFor(vault, pk, number = '4242424242424242', overrides = {}) {
	const r = await tokenize(vault, pk, cardFor(number, overrides));
	if (r.status !== 201) throw new Error(`POST /v1/tokens for ${number.slice(-4)}: ${r.status} ${r.text}`);
	return r.body.id;
}
