// SPDX-License-Identifier: Apache-2.0
//
// POST /v1/tokens as a browser (the card iframe) and an attacker see it, on
// the backend chosen by SR_TEST_BACKEND: every test card of
// shared/data/testvectors/cards.md through WebCrypto-built JWEs; every kind
// of bad input answered 4xx with a clear error and nothing stored; replays
// and stale JWEs; API-key rules (pk only); the rate limits against card
// testing; and an audit trail that records each tokenization masked.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { useInstance, withInstance, auditEvents, errorObject, runBin, sleep, BACKEND } from './lib/harness.mjs';
import {
	TEST_CARDS, cardFor, tokenize, encryptCard, encryptJwe, fetchJwks, postToken, newNonce, b64url,
} from './lib/card.mjs';

const ERROR_TYPES = ['invalid_request_error', 'authentication_error', 'rate_limit_error', 'api_error', 'card_error'];

/** The standard error body (card_error included, for 402s); returns error. */
function errorOf(r) {
	assert.ok(r.body && r.body.error, `error body expected, got ${r.status} ${r.text}`);
	const e = r.body.error;
	assert.ok(ERROR_TYPES.includes(e.type), `type ${e.type}`);
	if (e.type !== 'card_error') errorObject(r.body);
	assert.equal(typeof e.message, 'string');
	assert.ok('param' in e);
	return e;
}

/** A Luhn-valid number starting with prefix, len digits long. */
function luhnNumber(prefix, len) {
	const body = prefix.padEnd(len - 1, '0');
	for (let d = 0; d <= 9; d++) {
		const n = body + d;
		let sum = 0;
		for (let i = 0; i < n.length; i++) {
			let x = Number(n[n.length - 1 - i]);
			if (i % 2 === 1) x = x * 2 > 9 ? x * 2 - 9 : x * 2;
			sum += x;
		}
		if (sum % 10 === 0) return n;
	}
	throw new Error('unreachable');
}

const thisYear = new Date().getUTCFullYear();

describe('POST /v1/tokens', () => {
	const h = useInstance({
		services: ['vault'],
		// Generous limits: this suite tokenizes many times from one address.
		configOverrides: { vault: { tokens_per_minute_per_ip: 100000, tokens_per_minute_per_card: 100000, tokens_per_minute_per_key: 100000 } },
	});
	const pk = () => h.inst.credentials.vault_publishable_key;

	test('every test card of cards.md: verified -> 201 token, others -> 402 with their code', async () => {
		const fingerprints = new Map();
		for (const c of TEST_CARDS) {
			const r = await tokenize(h.inst.vault, pk(), cardFor(c.number));
			if (c.tokenizes) {
				assert.equal(r.status, 201, `${c.number}: ${r.text}`);
				const b = r.body;
				assert.deepEqual(Object.keys(b).sort(), ['card', 'created', 'cvc_check', 'expires_at', 'id', 'object']);
				assert.match(b.id, /^tok_[0-9a-f]{24}$/);
				assert.equal(b.object, 'token');
				assert.equal(b.cvc_check, 'pass');
				assert.deepEqual(Object.keys(b.card).sort(), ['brand', 'exp_month', 'exp_year', 'fingerprint', 'last4']);
				assert.equal(b.card.brand, c.brand, c.number);
				assert.equal(b.card.last4, c.number.slice(-4));
				assert.equal(b.card.exp_month, 12);
				assert.equal(b.card.exp_year, thisYear + 3);
				assert.match(b.card.fingerprint, /^fp_[A-Za-z0-9_-]{43}$/);
				// The default lifetime is 15 minutes.
				assert.equal(Date.parse(b.expires_at) - Date.parse(b.created), 900 * 1000);
				assert.ok(!r.text.includes(c.number), 'no PAN in the response');
				assert.ok(!r.text.includes(c.number.slice(0, 6) + c.number.slice(6, 12)), 'no middle digits');
				fingerprints.set(c.number, b.card.fingerprint);
			} else {
				assert.equal(r.status, 402, `${c.number}: ${r.text}`);
				const e = errorOf(r);
				assert.equal(e.type, 'card_error');
				assert.equal(e.code, c.code, c.number);
				if (c.code === 'incorrect_cvc') assert.equal(e.param, 'cvc');
			}
		}
		// Fingerprints: one per card, stable for the same card in any spacing.
		assert.equal(new Set(fingerprints.values()).size, fingerprints.size);
		const again = await tokenize(h.inst.vault, pk(), cardFor('4242 4242 4242 4242'));
		assert.equal(again.status, 201, again.text);
		assert.equal(again.body.card.fingerprint, fingerprints.get('4242424242424242'));
		assert.notEqual(again.body.id, undefined);
	});

	test('bad or tampered JWEs: 400 invalid_jwe / unknown_kid, nothing stored', async () => {
		const v = h.inst.vault;
		const jwks = await fetchJwks(v);
		const good = await encryptCard(v, cardFor('4242424242424242'), { jwks });
		const parts = good.split('.');
		const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
		const cases = {
			'not a JWE': 'hello',
			'four parts': parts.slice(0, 4).join('.'),
			'six parts': [...parts, 'AA'].join('.'),
			truncated: good.slice(0, good.length - 30),
			'bad base64url': [parts[0], parts[1], parts[2], parts[3] + '*', parts[4]].join('.'),
			'tampered ciphertext': [parts[0], parts[1], parts[2], flip(parts[3], 5), parts[4]].join('.'),
			'tampered tag': [parts[0], parts[1], parts[2], parts[3], flip(parts[4], 3)].join('.'),
			'tampered key': [parts[0], flip(parts[1], 10), parts[2], parts[3], parts[4]].join('.'),
			'header swapped': [b64url(Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwks.keys[0].kid, typ: 'JWE' }))), ...parts.slice(1)].join('.'),
			'wrong alg': await encryptCard(v, cardFor('4242424242424242'), { jwks, header: { alg: 'RSA-OAEP' } }),
			'wrong enc': await encryptCard(v, cardFor('4242424242424242'), { jwks, header: { enc: 'A128GCM' } }),
			'alg none': await encryptCard(v, cardFor('4242424242424242'), { jwks, header: { alg: 'none' } }),
			'zip header': await encryptCard(v, cardFor('4242424242424242'), { jwks, header: { zip: 'DEF' } }),
			'no kid': await encryptCard(v, cardFor('4242424242424242'), { jwks, header: { kid: undefined } }),
			'trailing newline': good + '\n',
		};
		for (const [name, body] of Object.entries(cases)) {
			const r = await postToken(v, pk(), body);
			assert.equal(r.status, 400, `${name}: ${r.status} ${r.text}`);
			const e = errorOf(r);
			assert.equal(e.type, 'invalid_request_error', name);
			assert.equal(e.code, 'invalid_jwe', name);
		}
		const unknown = await encryptCard(v, cardFor('4242424242424242'), { jwks, header: { kid: 'rk_000000000000000000000000' } });
		const r = await postToken(v, pk(), unknown);
		assert.equal(r.status, 400, r.text);
		assert.equal(errorOf(r).code, 'unknown_kid');
		// The untampered JWE still works afterwards: failed attempts did not burn its nonce.
		const ok = await postToken(v, pk(), good);
		assert.equal(ok.status, 201, ok.text);
	});

	test('replayed nonce and iat outside the clock skew: 400', async () => {
		const v = h.inst.vault;
		const jwks = await fetchJwks(v);
		const jwe = await encryptCard(v, cardFor('5555555555554444'), { jwks });
		assert.equal((await postToken(v, pk(), jwe)).status, 201);
		const replay = await postToken(v, pk(), jwe);
		assert.equal(replay.status, 400, replay.text);
		assert.deepEqual([errorOf(replay).code, replay.body.error.param], ['replayed_jwe', 'nonce']);
		// Same nonce, freshly encrypted: still a replay.
		const nonce = newNonce();
		assert.equal((await postToken(v, pk(), await encryptCard(v, cardFor('5555555555554444', { nonce }), { jwks }))).status, 201);
		const again = await postToken(v, pk(), await encryptCard(v, cardFor('5555555555554444', { nonce }), { jwks }));
		assert.equal(errorOf(again).code, 'replayed_jwe');
		// A declined attempt also spends its nonce.
		const declined = await encryptCard(v, cardFor('4000000000000002'), { jwks });
		assert.equal((await postToken(v, pk(), declined)).status, 402);
		assert.equal(errorOf(await postToken(v, pk(), declined)).code, 'replayed_jwe');

		const now = Math.floor(Date.now() / 1000);
		for (const iat of [now - 3600, now + 3600, now - 301]) {
			const r = await postToken(v, pk(), await encryptCard(v, cardFor('5555555555554444', { iat }), { jwks }));
			assert.equal(r.status, 400, `iat ${iat - now}: ${r.text}`);
			assert.deepEqual([errorOf(r).code, r.body.error.param], ['stale_jwe', 'iat']);
		}
		// Inside the window (clocks a little apart) is fine.
		const near = await postToken(v, pk(), await encryptCard(v, cardFor('5555555555554444', { iat: now - 100 }), { jwks }));
		assert.equal(near.status, 201, near.text);
	});

	test('invalid card fields: 400 naming the field', async () => {
		const v = h.inst.vault;
		const jwks = await fetchJwks(v);
		const visa = '4242424242424242';
		const cases = [
			['bad Luhn', cardFor('4242424242424241'), 'invalid_number', 'number'],
			['letters', cardFor('4242abcd42424242'), 'invalid_number', 'number'],
			['too short', cardFor(luhnNumber('4', 11)), 'invalid_number', 'number'],
			['too long', cardFor(luhnNumber('4', 20)), 'invalid_number', 'number'],
			['visa of 15 digits', cardFor(luhnNumber('4242', 15)), 'invalid_number', 'number'],
			['amex of 16 digits', cardFor(luhnNumber('37', 16), { cvc: '1234' }), 'invalid_number', 'number'],
			['unknown brand', cardFor(luhnNumber('99', 16)), 'invalid_number', 'number'],
			['expired last year', cardFor(visa, { exp_year: thisYear - 1 }), 'expired_card', 'exp_year'],
			['month 13', cardFor(visa, { exp_month: 13 }), 'invalid_expiry_month', 'exp_month'],
			['month 0', cardFor(visa, { exp_month: 0 }), 'invalid_expiry_month', 'exp_month'],
			['year far ahead', cardFor(visa, { exp_year: thisYear + 80 }), 'invalid_expiry_year', 'exp_year'],
			['year as word', cardFor(visa, { exp_year: 'soon' }), 'invalid_expiry_year', 'exp_year'],
			['visa with 4-digit CVC', cardFor(visa, { cvc: '1234' }), 'invalid_cvc', 'cvc'],
			['visa with 2-digit CVC', cardFor(visa, { cvc: '12' }), 'invalid_cvc', 'cvc'],
			['amex with 3-digit CVC', cardFor('378282246310005', { cvc: '123' }), 'invalid_cvc', 'cvc'],
			['CVC with letters', cardFor(visa, { cvc: '12a' }), 'invalid_cvc', 'cvc'],
			['name with control char', cardFor(visa, { name: 'Jenny\u0007Rosen' }), 'invalid_name', 'name'],
			['missing number', (({ number, ...rest }) => rest)(cardFor(visa)), 'invalid_number', 'number'],
			['missing cvc', (({ cvc, ...rest }) => rest)(cardFor(visa)), 'invalid_cvc', 'cvc'],
			['missing exp_month', (({ exp_month, ...rest }) => rest)(cardFor(visa)), 'invalid_expiry_month', 'exp_month'],
			['extra field', cardFor(visa, { address: '1 Main St' }), 'invalid_card_payload', null],
			['number as integer', cardFor(visa, { number: 4242424242424242 }), 'invalid_number', 'number'],
		];
		for (const [name, card, code, param] of cases) {
			const r = await postToken(v, pk(), await encryptCard(v, card, { jwks }));
			assert.equal(r.status, 400, `${name}: ${r.status} ${r.text}`);
			const e = errorOf(r);
			assert.equal(e.type, 'invalid_request_error', name);
			assert.equal(e.code, code, `${name}: ${r.text}`);
			assert.equal(e.param, param, `${name}: ${r.text}`);
			assert.ok(!r.text.includes(String(card.number ?? '')) || !card.number, `${name}: number echoed`);
		}
		// Payloads that are not our JSON shape at all.
		for (const [name, plain] of [['not JSON', 'number=4242424242424242'], ['array', '[]'], ['no nonce', JSON.stringify({ ...cardFor(visa), iat: Math.floor(Date.now() / 1000) })]]) {
			const r = await postToken(v, pk(), await encryptJwe(jwks.keys[0], plain));
			assert.equal(r.status, 400, `${name}: ${r.text}`);
			assert.equal(errorOf(r).code, 'invalid_card_payload', name);
		}
	});

	test('transport and keys: content type, size, pk only', async () => {
		const v = h.inst.vault;
		const jwe = await encryptCard(v, cardFor('4242424242424242'));
		const ct = await postToken(v, pk(), jwe, { contentType: 'application/json' });
		assert.equal(ct.status, 415, ct.text);
		assert.equal(errorOf(ct).code, 'unsupported_media_type');
		const big = await postToken(v, pk(), 'A'.repeat(8193));
		assert.equal(big.status, 413, big.text);
		errorOf(big);
		const empty = await postToken(v, pk(), '');
		assert.equal(empty.status, 400, empty.text);
		assert.equal(errorOf(empty).code, 'invalid_jwe');

		for (const [name, key] of [
			['no key', null],
			['secret key', h.inst.credentials.vault_secret_key],
			['unknown pk', `pk_${randomBytes(32).toString('hex')}`],
			['platform key', h.inst.credentials.platform_secret_key],
		]) {
			const r = await postToken(v, key, jwe);
			assert.equal(r.status, 401, `${name}: ${r.text}`);
			const e = errorOf(r);
			assert.equal(e.type, 'authentication_error', name);
			assert.equal(e.code, 'invalid_api_key');
		}
		// The JWE was never processed: it still tokenizes.
		assert.equal((await postToken(v, pk(), jwe)).status, 201);
		// application/jose with parameters, any case.
		const ok = await postToken(v, pk(), await encryptCard(v, cardFor('4242424242424242')), { contentType: 'Application/JOSE; charset=us-ascii' });
		assert.equal(ok.status, 201, ok.text);
	});

	test('audit trail: every tokenization and refused key, masked', async () => {
		const v = h.inst.vault;
		const ok = await tokenize(v, pk(), cardFor('6011111111111117'));
		assert.equal(ok.status, 201);
		const no = await tokenize(v, pk(), cardFor('4000000000000002'));
		assert.equal(no.status, 402);
		const events = await auditEvents(v, h.inst.credentials.vault_secret_key);
		const created = events.filter((e) => e.action === 'token.create');
		const mine = created.find((e) => e.target.id === ok.body.id);
		assert.ok(mine, 'success recorded with the token id');
		assert.equal(mine.outcome, 'success');
		assert.equal(mine.actor.type, 'api_key');
		assert.match(mine.actor.id, /^key_/);
		assert.deepEqual([mine.details.brand, mine.details.last4, mine.details.outcome], ['discover', '1117', 'approved']);
		const declined = created.filter((e) => e.outcome === 'failure' && e.details.last4 === '0002');
		assert.ok(declined.length >= 1, 'decline recorded');
		assert.equal(declined.at(-1).details.code, 'generic_decline');
		assert.ok(created.some((e) => e.outcome === 'denied' && e.details.outcome === 'replayed'), 'replay recorded');
		assert.ok(events.some((e) => e.action === 'auth.failure' && e.target.type === 'token'), '401 recorded');
		// One record per card that reached the processor in this suite, at least.
		assert.ok(created.length >= TEST_CARDS.length);
		const dump = JSON.stringify(events);
		for (const c of TEST_CARDS) assert.ok(!dump.includes(c.number), `PAN ${c.number.slice(-4)} in the audit log`);
		assert.ok(!dump.includes(h.inst.credentials.vault_secret_key), 'secret key in the audit log');
	});

	test('no PAN in the vault database files or logs (SQLite)', { skip: BACKEND !== 'sqlite' }, async () => {
		const files = (await readdir(h.inst.dir)).filter((f) => f.startsWith('vault.db'));
		assert.ok(files.length >= 1);
		const blobs = await Promise.all(files.map((f) => readFile(path.join(h.inst.dir, f))));
		const logs = h.inst.vault.lines.join('\n');
		for (const c of TEST_CARDS) {
			for (const b of blobs) assert.equal(b.indexOf(c.number), -1, `PAN ${c.number.slice(-4)} in the database`);
			assert.ok(!logs.includes(c.number), `PAN ${c.number.slice(-4)} in the log`);
		}
		assert.ok(!logs.includes('"cvc"'), 'no CVC field in the log');
	});
});

test('rate limits against card testing: per card and per publishable key -> 429 with Retry-After', async () => {
	await withInstance({
		services: ['vault'],
		configOverrides: { vault: { tokens_per_minute_per_card: 2, tokens_per_minute_per_key: 4, tokens_per_minute_per_ip: 1000 } },
	}, async (inst) => {
		const v = inst.vault;
		const pk = inst.credentials.vault_publishable_key;
		const jwks = await fetchJwks(v);
		// The same card with different CVCs: the third try is stopped.
		assert.equal((await tokenize(v, pk, cardFor('4242424242424242', { cvc: '111' }), { jwks })).status, 201);
		assert.equal((await tokenize(v, pk, cardFor('4242424242424242', { cvc: '222' }), { jwks })).status, 201);
		const third = await tokenize(v, pk, cardFor('4242 4242 4242 4242', { cvc: '333' }), { jwks });
		assert.equal(third.status, 429, third.text);
		assert.equal(errorOf(third).type, 'rate_limit_error');
		assert.equal(third.body.error.code, 'card_rate_limited');
		assert.ok(Number(third.headers['retry-after']) >= 1);
		// Another card still goes through until the key's budget (4) is spent.
		assert.equal((await tokenize(v, pk, cardFor('5555555555554444'), { jwks })).status, 201);
		const fifth = await tokenize(v, pk, cardFor('6011111111111117'), { jwks });
		assert.equal(fifth.status, 429, fifth.text);
		assert.equal(errorOf(fifth).code, 'rate_limited');
		assert.ok(Number(fifth.headers['retry-after']) >= 1);
	});
});

test('rate limit per client address -> 429 with Retry-After', async () => {
	await withInstance({
		services: ['vault'],
		configOverrides: { vault: { tokens_per_minute_per_ip: 3 } },
	}, async (inst) => {
		const v = inst.vault;
		const pk = inst.credentials.vault_publishable_key;
		const jwks = await fetchJwks(v);
		for (const n of ['4242424242424242', '5555555555554444', '6011111111111117'])
			assert.equal((await tokenize(v, pk, cardFor(n), { jwks })).status, 201);
		const r = await tokenize(v, pk, cardFor('3566002020360505'), { jwks });
		assert.equal(r.status, 429, r.text);
		assert.deepEqual([errorOf(r).type, r.body.error.code], ['rate_limit_error', 'rate_limited']);
		assert.ok(Number(r.headers['retry-after']) >= 1);
	});
});

test('key rotation: JWEs under a retiring kid still tokenize, a retired kid is unknown_kid', async () => {
	await withInstance({ services: ['vault'], configOverrides: { vault: { tokens_per_minute_per_ip: 1000 } } }, async (inst) => {
		const v = inst.vault;
		const pk = inst.credentials.vault_publishable_key;
		const cli = (args) => runBin(['vault', ...args, '--config', inst.configPath], { env: inst.dbEnv });
		const waitKeys = async (pred) => {
			const deadline = Date.now() + 5000;
			let set;
			do {
				set = await fetchJwks(v);
				if (pred(set.keys)) return set;
				await sleep(250);
			} while (Date.now() < deadline);
			throw new Error(`JWKS never reached the expected state: ${JSON.stringify(set.keys.map((k) => k.kid))}`);
		};
		const first = await fetchJwks(v);
		const firstKid = first.keys[0].kid;
		const before = await tokenize(v, pk, cardFor('4242424242424242'), { jwks: first });
		assert.equal(before.status, 201, before.text);

		const rot = await cli(['rotate-keys', '--rsa-grace-seconds', '3600']);
		assert.equal(rot.code, 0, rot.stderr + rot.stdout);
		const second = await waitKeys((keys) => keys.length === 2);
		const secondKid = second.keys[0].kid;
		assert.notEqual(secondKid, firstKid);
		// A browser that fetched the JWKS before the rotation still succeeds; so does a new one.
		assert.equal((await tokenize(v, pk, cardFor('5555555555554444'), { jwks: first })).status, 201);
		const fresh = await tokenize(v, pk, cardFor('5555555555554444'), { jwks: second });
		assert.equal(fresh.status, 201, fresh.text);
		// The same card gives the same fingerprint under any kid.
		const again = await tokenize(v, pk, cardFor('4242424242424242'), { jwks: second });
		assert.equal(again.status, 201);
		assert.equal(again.body.card.fingerprint, before.body.card.fingerprint);

		// Rotate again with no grace: the second kid is retired at once.
		const rot2 = await cli(['rotate-keys', '--rsa-grace-seconds', '0']);
		assert.equal(rot2.code, 0, rot2.stderr + rot2.stdout);
		await waitKeys((keys) => keys.length >= 1 && !keys.some((k) => k.kid === secondKid));
		const stale = await tokenize(v, pk, cardFor('4242424242424242'), { jwks: second });
		assert.equal(stale.status, 400, stale.text);
		assert.equal(errorOf(stale).code, 'unknown_kid');
	});
});
