// SPDX-License-Identifier: Apache-2.0
//
// Stored cards, charges and push-to-card payouts of the vault, as the
// platform (holder of the vault's secret key) uses them, on the backend
// chosen by SR_TEST_BACKEND: the card lifecycle, charges with a token and
// with a stored card, payouts to eligible and ineligible cards, the
// Idempotency-Key rules (replay, other body, concurrent), a 400 naming the
// field for every bad input with nothing created, signed webhooks for a
// payout that later fails or is returned (checked by a receiver started
// here), and a kill -9 between "pending" and the outcome that neither loses
// nor duplicates the charge.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { createHmac, timingSafeEqual, randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { useInstance, withInstance, request, auditEvents, errorObject, sleep, BACKEND, metricSum, waitMetric } from './lib/harness.mjs';
import { tokenFor, PAYOUT_AMOUNT_FAILS, PAYOUT_AMOUNT_RETURNS } from './lib/card.mjs';

const PAYOUT_CARD = '4000056655665556'; // sandbox: eligible for push-to-card
const PANS = ['4242424242424242', '5555555555554444', '378282246310005', PAYOUT_CARD, '5200828282828210'];

/** A JSON call with the secret key (or key); {status, headers, body, text}. */
async function call(vault, key, method, p, body, headers = {}) {
	const h = { Authorization: `Bearer ${key}`, ...headers };
	let payload;
	if (body !== undefined) {
		payload = typeof body === 'string' ? body : JSON.stringify(body);
		h['Content-Type'] ??= 'application/json';
	}
	if (key === null) delete h.Authorization;
	const r = await request(vault, p, { method, headers: h, body: payload });
	let parsed = null;
	try {
		parsed = JSON.parse(r.text);
	} catch {
		/* not JSON */
	}
	for (const pan of PANS) assert.ok(!r.text.includes(pan), `${method} ${p} returned a PAN`);
	return { status: r.status, headers: r.headers, body: parsed, text: r.text };
}

function cardError(r, code) {
	assert.equal(r.status, 402, r.text);
	assert.equal(r.body.error.type, 'card_error');
	assert.equal(r.body.error.code, code);
	assert.equal(r.body.error.decline_code, code);
	assert.equal(typeof r.body.error.message, 'string');
	return r.body.error;
}

/** A small HTTP receiver for the vault's webhooks (loopback, free port). */
async function startReceiver() {
	const events = [];
	const waiters = [];
	const srv = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			events.push({ headers: req.headers, raw: Buffer.concat(chunks) });
			res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
			for (const w of waiters.splice(0)) w();
		});
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	return {
		url: `http://127.0.0.1:${srv.address().port}/hooks/vault`,
		events,
		async waitFor(pred, timeoutMs = 15000) {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const hit = events.find(pred);
				if (hit) return hit;
				if (Date.now() > deadline) throw new Error(`webhook not received; got ${events.map((e) => e.raw.toString()).join('\n')}`);
				await new Promise((r) => {
					waiters.push(r);
					setTimeout(r, 200);
				});
			}
		},
		close: () => new Promise((r) => srv.close(r)),
	};
}

/** Checks Strongroom-Signature: t=...,v1=hex HMAC-SHA256(secret, "t.body"). */
function verifySignature(secret, header, raw) {
	assert.ok(header, 'Strongroom-Signature header missing');
	const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=')));
	const t = Number(parts.t);
	assert.ok(Math.abs(Date.now() / 1000 - t) <= 300, 'signature time outside 5 minutes');
	const want = createHmac('sha256', secret).update(`${parts.t}.`).update(raw).digest();
	const got = Buffer.from(parts.v1, 'hex');
	assert.equal(got.length, 32);
	assert.ok(timingSafeEqual(want, got), 'signature does not verify');
	const wrong = createHmac('sha256', Buffer.alloc(32)).update(`${parts.t}.`).update(raw).digest();
	assert.ok(!timingSafeEqual(wrong, got), 'signature verifies under a wrong secret');
}

const env = {};
let receiver;
before(async () => {
	receiver = await startReceiver();
	env.STRONGROOM_VAULT_WEBHOOK_URL = receiver.url;
	env.STRONGROOM_WEBHOOKS_POLL_MS = '50';
	env.STRONGROOM_WEBHOOKS_RETRY_BASE_MS = '100';
});
after(async () => receiver?.close());

const LIMITS = { tokens_per_minute_per_ip: 100000, tokens_per_minute_per_card: 100000, tokens_per_minute_per_key: 100000 };

describe('vault payments', () => {
	const h = useInstance({ services: ['vault'], env, configOverrides: { vault: { ...LIMITS, sandbox_async_delay_ms: 300 } } });
	const sk = () => h.inst.credentials.vault_secret_key;
	const pk = () => h.inst.credentials.vault_publishable_key;
	const v = () => h.inst.vault;
	const token = (pan = '4242424242424242') => tokenFor(v(), pk(), pan);
	const newCard = async (pan) => {
		const r = await call(v(), sk(), 'POST', '/v1/cards', { token: await token(pan) });
		assert.equal(r.status, 201, r.text);
		return r.body;
	};

	test('card lifecycle: create from a token, read, delete, then gone', async () => {
		const tok = await token('5555555555554444');
		const r = await call(v(), sk(), 'POST', '/v1/cards', { token: tok });
		assert.equal(r.status, 201, r.text);
		const card = r.body;
		assert.match(card.id, /^card_[0-9a-f]{24}$/);
		assert.equal(card.object, 'card');
		assert.equal(card.brand, 'mastercard');
		assert.equal(card.bin6, '555555');
		assert.equal(card.last4, '4444');
		assert.equal(card.exp_month, 12);
		assert.match(card.fingerprint, /^fp_/);
		assert.equal(typeof card.created, 'number');

		// The token was spent by the card.
		const again = await call(v(), sk(), 'POST', '/v1/cards', { token: tok });
		assert.equal(again.status, 400);
		assert.equal(errorObject(again.body).code, 'resource_missing');
		assert.equal(again.body.error.param, 'token');

		const got = await call(v(), sk(), 'GET', `/v1/cards/${card.id}`);
		assert.equal(got.status, 200);
		assert.deepEqual(got.body, card);

		// The same card tokenized twice has the same fingerprint.
		const twin = await newCard('5555555555554444');
		assert.equal(twin.fingerprint, card.fingerprint);
		assert.notEqual(twin.id, card.id);

		const del = await call(v(), sk(), 'DELETE', `/v1/cards/${card.id}`);
		assert.equal(del.status, 200);
		assert.deepEqual(del.body, { id: card.id, object: 'card', deleted: true });
		for (const [m, p] of [['GET', `/v1/cards/${card.id}`], ['DELETE', `/v1/cards/${card.id}`]]) {
			const gone = await call(v(), sk(), m, p);
			assert.equal(gone.status, 404, `${m} after delete`);
			assert.equal(errorObject(gone.body).code, 'resource_missing');
			assert.match(gone.body.error.message, /deleted/);
		}
		const charge = await call(v(), sk(), 'POST', '/v1/charges', { card: card.id, amount: 500, currency: 'eur' });
		assert.equal(charge.status, 400);
		assert.equal(errorObject(charge.body).param, 'card');
		assert.equal(charge.body.error.code, 'resource_missing');
		const unknown = await call(v(), sk(), 'GET', '/v1/cards/card_000000000000000000000000');
		assert.equal(unknown.status, 404);

		const audit = await auditEvents(v(), sk());
		assert.ok(audit.some((e) => e.action === 'card.create' && e.target.id === card.id && e.details.last4 === '4444'));
		assert.equal(audit.filter((e) => e.action === 'card.delete' && e.target.id === card.id).length, 1);
		for (const e of audit) for (const pan of PANS) assert.ok(!JSON.stringify(e).includes(pan));
	});

	test('secret key only: publishable, missing and wrong keys get an audited 401', async () => {
		for (const key of [pk(), null, 'sk_wrong']) {
			for (const [m, p, body] of [
				['POST', '/v1/cards', { token: 'tok_x' }],
				['POST', '/v1/charges', { card: 'card_x', amount: 100, currency: 'eur' }],
				['POST', '/v1/payouts', { card: 'card_x', amount: 100, currency: 'eur' }],
				['GET', '/v1/charges/ch_x'],
				['GET', '/v1/payouts/po_x'],
				['GET', '/v1/cards/card_x'],
			]) {
				const r = await call(v(), key, m, p, body);
				assert.equal(r.status, 401, `${m} ${p} with ${key}`);
				assert.equal(errorObject(r.body).type, 'authentication_error');
			}
		}
		const audit = await auditEvents(v(), sk());
		assert.ok(audit.filter((e) => e.action === 'auth.failure' && e.target.id === 'payments').length >= 3);
	});

	test('charges with a token and with a stored card succeed; metadata and description echoed', async () => {
		const meta = { member: 'usr_123', order: 'ord-9' };
		const byToken = await call(v(), sk(), 'POST', '/v1/charges', {
			token: await token('378282246310005'), amount: 1050, currency: 'EUR', description: 'Plan upgrade', metadata: meta,
		});
		assert.equal(byToken.status, 201, byToken.text);
		const ch = byToken.body;
		assert.match(ch.id, /^ch_[0-9a-f]{24}$/);
		assert.equal(ch.object, 'charge');
		assert.equal(ch.amount, 1050);
		assert.equal(ch.currency, 'eur');
		assert.equal(ch.status, 'succeeded');
		assert.deepEqual(ch.card, { id: null, brand: 'amex', last4: '0005', exp_month: 12, exp_year: ch.card.exp_year });
		assert.match(ch.token, /^tok_/);
		assert.equal(ch.description, 'Plan upgrade');
		assert.deepEqual(ch.metadata, meta);
		assert.equal(ch.failure_code, null);
		assert.equal((await call(v(), sk(), 'GET', `/v1/charges/${ch.id}`)).text, byToken.text);

		// A token pays for one thing only.
		const reuse = await call(v(), sk(), 'POST', '/v1/charges', { token: ch.token, amount: 100, currency: 'eur' });
		assert.equal(reuse.status, 400);
		assert.equal(errorObject(reuse.body).code, 'resource_missing');
		assert.equal(reuse.body.error.param, 'token');

		const card = await newCard('4242424242424242');
		for (const [amount, currency] of [[500, 'usd'], [1200, 'jpy'], [1500, 'kwd']]) {
			const r = await call(v(), sk(), 'POST', '/v1/charges', { card: card.id, amount, currency });
			assert.equal(r.status, 201, r.text);
			assert.equal(r.body.status, 'succeeded');
			assert.equal(r.body.card.id, card.id);
			assert.equal(r.body.card.last4, '4242');
			assert.equal(r.body.token, null);
			assert.deepEqual(r.body.metadata, {});
			assert.equal(r.body.currency, currency);
		}
		const audit = await auditEvents(v(), sk());
		assert.equal(audit.filter((e) => e.action === 'card.use' && e.target.id === card.id).length, 3);
		const mine = audit.filter((e) => e.target.id === ch.id).map((e) => e.action);
		assert.deepEqual(mine, ['charge.create', 'charge.succeeded']);
		assert.equal((await call(v(), sk(), 'GET', '/v1/charges/ch_000000000000000000000000')).status, 404);
	});

	test('a charge to a card without funds: 402 insufficient_funds, stored as failed, no money moved', async () => {
		// 4000000000009995 passes the zero-amount verification at
		// tokenization; the decline comes when money moves.
		const card = await newCard('4000000000009995');
		const r = await call(v(), sk(), 'POST', '/v1/charges', { card: card.id, amount: 2500, currency: 'eur', metadata: { member: 'usr_9' } });
		assert.equal(r.status, 402, r.text);
		const e = errorObject(r.body);
		assert.equal(e.type, 'card_error');
		assert.equal(e.code, 'insufficient_funds');
		assert.match(r.body.error.charge, /^ch_[0-9a-f]{24}$/);
		const got = await call(v(), sk(), 'GET', `/v1/charges/${r.body.error.charge}`);
		assert.equal(got.status, 200, got.text);
		assert.equal(got.body.status, 'failed');
		assert.equal(got.body.failure_code, 'insufficient_funds');
		assert.equal(got.body.card.last4, '9995');
		assert.deepEqual(got.body.metadata, { member: 'usr_9' });
	});

	test('payouts: an eligible debit card is paid, another card is declined and stored as failed', async () => {
		const debit = await newCard(PAYOUT_CARD);
		const ok = await call(v(), sk(), 'POST', '/v1/payouts', { card: debit.id, amount: 2500, currency: 'eur', metadata: { member: 'usr_7' } });
		assert.equal(ok.status, 201, ok.text);
		assert.match(ok.body.id, /^po_[0-9a-f]{24}$/);
		assert.equal(ok.body.object, 'payout');
		assert.equal(ok.body.status, 'paid');
		assert.equal(ok.body.card.last4, '5556');
		assert.deepEqual(ok.body.metadata, { member: 'usr_7' });
		assert.equal((await call(v(), sk(), 'GET', `/v1/payouts/${ok.body.id}`)).body.status, 'paid');

		const credit = await newCard('4242424242424242');
		const no = await call(v(), sk(), 'POST', '/v1/payouts', { card: credit.id, amount: 2500, currency: 'eur' });
		const e = cardError(no, 'payouts_not_allowed');
		assert.match(e.payout, /^po_/);
		const stored = await call(v(), sk(), 'GET', `/v1/payouts/${e.payout}`);
		assert.equal(stored.status, 200);
		assert.equal(stored.body.status, 'failed');
		assert.equal(stored.body.failure_code, 'payouts_not_allowed');

		// Payouts go to stored cards only.
		const tok = await call(v(), sk(), 'POST', '/v1/payouts', { token: await token(PAYOUT_CARD), amount: 100, currency: 'eur' });
		assert.equal(tok.status, 400);
		assert.equal(errorObject(tok.body).code, 'parameter_unknown');
		assert.equal(tok.body.error.param, 'token');
	});

	test('Idempotency-Key: same body replays the same response, another body is 409', async () => {
		const card = await newCard('4242424242424242');
		const key = `order-${randomBytes(6).toString('hex')}`;
		const body = JSON.stringify({ card: card.id, amount: 777, currency: 'eur', metadata: { member: 'usr_1' } });
		const first = await call(v(), sk(), 'POST', '/v1/charges', body, { 'Idempotency-Key': key });
		assert.equal(first.status, 201, first.text);
		assert.equal(first.headers['idempotent-replayed'], undefined);
		const second = await call(v(), sk(), 'POST', '/v1/charges', body, { 'Idempotency-Key': key });
		assert.equal(second.status, 201);
		assert.equal(second.headers['idempotent-replayed'], 'true');
		assert.equal(second.text, first.text);

		const other = await call(v(), sk(), 'POST', '/v1/charges', { card: card.id, amount: 778, currency: 'eur' }, { 'Idempotency-Key': key });
		assert.equal(other.status, 409);
		assert.equal(errorObject(other.body).code, 'idempotency_key_reused');
		// The same key on the other endpoint is another request too.
		const payout = await call(v(), sk(), 'POST', '/v1/payouts', body, { 'Idempotency-Key': key });
		assert.equal(payout.status, 409);

		// A decline is replayed the same way, and money moved once.
		const credit = await newCard('5555555555554444');
		const pkey = `payout-${randomBytes(6).toString('hex')}`;
		const pbody = { card: credit.id, amount: 100, currency: 'eur' };
		const d1 = await call(v(), sk(), 'POST', '/v1/payouts', pbody, { 'Idempotency-Key': pkey });
		const d2 = await call(v(), sk(), 'POST', '/v1/payouts', pbody, { 'Idempotency-Key': pkey });
		cardError(d1, 'payouts_not_allowed');
		assert.equal(d2.status, 402);
		assert.equal(d2.text, d1.text);
		assert.equal(d2.headers['idempotent-replayed'], 'true');

		const audit = await auditEvents(v(), sk());
		assert.equal(audit.filter((e) => e.action === 'charge.create' && e.target.id === first.body.id).length, 1);
		assert.equal(audit.filter((e) => e.action === 'card.use' && e.target.id === card.id).length, 1);

		for (const bad of ['a b', 'x'.repeat(256), 'tab\tin']) {
			const r = await call(v(), sk(), 'POST', '/v1/charges', body, { 'Idempotency-Key': bad });
			assert.equal(r.status, 400, `key ${JSON.stringify(bad)}`);
			assert.equal(errorObject(r.body).code, 'idempotency_key_invalid');
		}
		const longest = await call(v(), sk(), 'POST', '/v1/charges', body, { 'Idempotency-Key': 'k'.repeat(255) });
		assert.equal(longest.status, 201);
	});

	test('Idempotency-Key: concurrent requests with one key charge once', async () => {
		const card = await newCard('4242424242424242');
		const key = `concurrent-${randomBytes(6).toString('hex')}`;
		const body = JSON.stringify({ card: card.id, amount: 4200, currency: 'usd' });
		const rs = await Promise.all(Array.from({ length: 6 }, () => call(v(), sk(), 'POST', '/v1/charges', body, { 'Idempotency-Key': key })));
		const ok = rs.filter((r) => r.status === 201);
		const busy = rs.filter((r) => r.status === 409);
		assert.equal(ok.length + busy.length, rs.length, rs.map((r) => r.status).join(','));
		assert.ok(ok.length >= 1);
		for (const r of busy) assert.equal(r.body.error.code, 'idempotency_key_in_use');
		assert.equal(new Set(ok.map((r) => r.body.id)).size, 1, 'one charge id for all');
		const after = await call(v(), sk(), 'POST', '/v1/charges', body, { 'Idempotency-Key': key });
		assert.equal(after.headers['idempotent-replayed'], 'true');
		assert.equal(after.body.id, ok[0].body.id);
		const audit = await auditEvents(v(), sk());
		assert.equal(audit.filter((e) => e.action === 'card.use' && e.target.id === card.id).length, 1);
	});

	test('every bad field is a 400 naming it, and nothing is created', async () => {
		const card = await newCard('4242424242424242');
		const base = { card: card.id, amount: 1000, currency: 'eur' };
		const recorded = async () => (await auditEvents(v(), sk())).filter((e) => e.action !== 'audit.read');
		const before = (await recorded()).length;
		const cases = [
			[{ ...base, amount: undefined }, 'amount', 'parameter_missing'],
			[{ ...base, amount: 0 }, 'amount', 'parameter_invalid'],
			[{ ...base, amount: -5 }, 'amount', 'parameter_invalid'],
			[{ ...base, amount: 10.5 }, 'amount', 'parameter_invalid'],
			[{ ...base, amount: '1000' }, 'amount', 'parameter_invalid'],
			[{ ...base, amount: 100000000 }, 'amount', 'amount_too_large'],
			[{ ...base, amount: 100000000, currency: 'jpy' }, 'amount', 'amount_too_large'],
			[{ ...base, currency: undefined }, 'currency', 'parameter_missing'],
			[{ ...base, currency: 'euro' }, 'currency', 'parameter_invalid'],
			[{ ...base, currency: 'E1R' }, 'currency', 'parameter_invalid'],
			[{ ...base, currency: 978 }, 'currency', 'parameter_invalid'],
			[{ ...base, currency: 'xyz' }, 'currency', 'currency_unsupported'],
			[{ ...base, card: undefined }, 'card', 'parameter_missing'],
			[{ ...base, card: 'tok_123' }, 'card', 'parameter_invalid'],
			[{ ...base, card: 42 }, 'card', 'parameter_invalid'],
			[{ ...base, card: 'card_../x' }, 'card', 'parameter_invalid'],
			[{ ...base, token: 'tok_abc' }, 'token', 'parameter_invalid'],
			[{ ...base, card: undefined, token: 'card_abc' }, 'token', 'parameter_invalid'],
			[{ ...base, description: 'x'.repeat(501) }, 'description', 'parameter_invalid'],
			[{ ...base, description: 12 }, 'description', 'parameter_invalid'],
			[{ ...base, description: 'a\nb' }, 'description', 'parameter_invalid'],
			[{ ...base, metadata: ['usr_1'] }, 'metadata', 'parameter_invalid'],
			[{ ...base, metadata: { member: { id: 1 } } }, 'metadata', 'parameter_invalid'],
			[{ ...base, metadata: { member: 5 } }, 'metadata', 'parameter_invalid'],
			[{ ...base, metadata: { ['k'.repeat(41)]: 'v' } }, 'metadata', 'parameter_invalid'],
			[{ ...base, metadata: { 'bad key': 'v' } }, 'metadata', 'parameter_invalid'],
			[{ ...base, metadata: { m: 'v'.repeat(501) } }, 'metadata', 'parameter_invalid'],
			[{ ...base, metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', 'parameter_invalid'],
			[{ ...base, surprise: 1 }, 'surprise', 'parameter_unknown'],
		];
		for (const [body, param, code] of cases) {
			const r = await call(v(), sk(), 'POST', '/v1/charges', body);
			assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 120)} -> ${r.status} ${r.text}`);
			const e = errorObject(r.body);
			assert.equal(e.param, param, JSON.stringify(body).slice(0, 120));
			assert.equal(e.code, code, JSON.stringify(body).slice(0, 120));
		}
		for (const [body, param] of [
			[{ ...base, description: 'x' }, 'description'],
			[{ ...base, amount: 0 }, 'amount'],
			[{ ...base, card: undefined }, 'card'],
		]) {
			const r = await call(v(), sk(), 'POST', '/v1/payouts', body);
			assert.equal(r.status, 400);
			assert.equal(errorObject(r.body).param, param);
		}
		for (const raw of ['not json', '[1,2]', '', '{"amount":1,"amount":2}']) {
			const r = await call(v(), sk(), 'POST', '/v1/charges', raw);
			assert.equal(r.status, 400, raw);
			assert.equal(errorObject(r.body).code, 'body_invalid');
		}
		const ct = await call(v(), sk(), 'POST', '/v1/charges', JSON.stringify(base), { 'Content-Type': 'text/plain' });
		assert.equal(ct.status, 415);
		for (const [body, code] of [[{}, 'parameter_missing'], [{ token: 'nope' }, 'parameter_invalid'], [{ token: 'tok_1', x: 1 }, 'parameter_unknown']]) {
			const r = await call(v(), sk(), 'POST', '/v1/cards', body);
			assert.equal(r.status, 400);
			assert.equal(errorObject(r.body).code, code);
		}
		// Nothing was recorded by any of them.
		const after = await recorded();
		assert.equal(after.length, before, after.slice(before).map((e) => e.action).join(','));
	});

	test('a payout that later fails or is returned: signed webhooks with the metadata, object updated', async () => {
		const secret = await readFile(path.join(h.inst.dir, 'keys/vault-webhook.key'));
		const debit = await newCard('5200828282828210');
		const fails = await call(v(), sk(), 'POST', '/v1/payouts', { card: debit.id, amount: PAYOUT_AMOUNT_FAILS, currency: 'eur', metadata: { member: 'usr_f' } });
		const returns = await call(v(), sk(), 'POST', '/v1/payouts', { card: debit.id, amount: PAYOUT_AMOUNT_RETURNS, currency: 'gbp', metadata: { member: 'usr_r' } });
		assert.equal(fails.status, 201, fails.text);
		assert.equal(fails.body.status, 'paid');
		assert.equal(returns.body.status, 'paid');

		const parsed = (e) => JSON.parse(e.raw.toString());
		const byType = (id, type) => (e) => {
			const j = parsed(e);
			return j.type === type && j.data.object.id === id;
		};
		for (const [po, final] of [[fails.body, 'failed'], [returns.body, 'returned']]) {
			for (const type of ['payout.created', 'payout.paid', `payout.${final}`]) {
				const ev = await receiver.waitFor(byType(po.id, type));
				verifySignature(secret, ev.headers['strongroom-signature'], ev.raw);
				const j = parsed(ev);
				assert.match(j.id, /^evt_/);
				assert.equal(j.object, 'event');
				assert.deepEqual(j.data.object.metadata, po.metadata);
				assert.equal(j.data.object.card.last4, '8210');
				for (const pan of PANS) assert.ok(!ev.raw.toString().includes(pan));
			}
			const now = await call(v(), sk(), 'GET', `/v1/payouts/${po.id}`);
			assert.equal(now.body.status, final);
			assert.equal(now.body.failure_code, final === 'failed' ? 'could_not_process' : 'account_closed');
			const ev = parsed(await receiver.waitFor(byType(po.id, `payout.${final}`)));
			assert.equal(ev.data.object.status, final);
		}
		// A tampered body does not verify.
		const ev = await receiver.waitFor(byType(fails.body.id, 'payout.failed'));
		const tampered = Buffer.from(ev.raw.toString().replace('usr_f', 'usr_x'));
		assert.throws(() => verifySignature(secret, ev.headers['strongroom-signature'], tampered));

		const charge = await call(v(), sk(), 'POST', '/v1/charges', { card: debit.id, amount: 300, currency: 'eur', metadata: { member: 'usr_c' } });
		const cev = parsed(await receiver.waitFor(byType(charge.body.id, 'charge.succeeded')));
		assert.deepEqual(cev.data.object.metadata, { member: 'usr_c' });
		const audit = await auditEvents(v(), sk());
		assert.ok(audit.some((e) => e.action === 'payout.returned' && e.target.id === returns.body.id));
		assert.ok(audit.some((e) => e.action === 'payout.failed' && e.target.id === fails.body.id && e.outcome === 'failure'));
	});

	test('/metrics counts outcomes and webhook deliveries', async () => {
		// The receiver saw the webhooks above; the sender counts each once it
		// has recorded the delivery, a moment after the receiver answered.
		const m = await waitMetric(v(), 'sr_webhooks_total', { outcome: 'sent' }, (n) => n >= 6, { what: 'webhook deliveries counted' });
		assert.equal(m.types.sr_vault_operations_total, 'counter');
		const count = (status, kind) => metricSum(m, 'sr_vault_operations_total', { kind, status });
		// What the tests above did: several charges succeeded, payouts were
		// paid and one was declined (payouts_not_allowed) at least twice,
		// and exactly one charge was declined (insufficient funds).
		assert.ok(count('succeeded', 'charge') >= 8, `charges ${count('succeeded', 'charge')}`);
		assert.ok(count('paid', 'payout') >= 3);
		assert.ok(count('failed', 'payout') >= 2);
		assert.equal(count('failed', 'charge'), 1);
		assert.equal(metricSum(m, 'sr_vault_operations_unreachable_total'), 0);
	});

	test('no card number in the vault database files or its logs after all of the above', async () => {
		const spaced = (pan) => [pan, pan.replace(/(\d{4})(?=\d)/g, '$1 '), pan.replace(/(\d{4})(?=\d)/g, '$1-')];
		const logs = h.inst.vault.lines.join('\n');
		for (const pan of PANS) for (const form of spaced(pan)) assert.ok(!logs.includes(form), `PAN in the vault log`);
		if (BACKEND !== 'sqlite') return; // PostgreSQL's files are the server's; the SQL rows are checked by test_payments
		const names = (await readdir(h.inst.dir)).filter((n) => n.startsWith('vault.db'));
		assert.ok(names.length >= 1, 'found the vault database');
		let sawLast4 = false;
		for (const n of names) {
			const bytes = await readFile(path.join(h.inst.dir, n));
			for (const pan of PANS) for (const form of spaced(pan)) assert.equal(bytes.indexOf(form), -1, `PAN in ${n}`);
			sawLast4 ||= bytes.indexOf('5556') !== -1;
		}
		assert.ok(sawLast4, 'the scanned files hold the cards (masked)');
	});
});

test('kill -9 between "pending" and the outcome: the restarted vault completes the charge once', async () => {
	await withInstance(
		{ services: ['vault'], configOverrides: { vault: { ...LIMITS, sandbox_latency_ms: 2500 } } },
		async (inst) => {
			const sk = inst.credentials.vault_secret_key;
			const pk = inst.credentials.vault_publishable_key;
			// Tokenization also calls the (slow) sandbox: done before the race.
			const tok = await tokenFor(inst.vault, pk, '4242424242424242');
			const key = `crash-${randomBytes(6).toString('hex')}`;
			const body = JSON.stringify({ token: tok, amount: 1999, currency: 'eur', metadata: { member: 'usr_k' } });
			const inflight = call(inst.vault, sk, 'POST', '/v1/charges', body, { 'Idempotency-Key': key }).catch((e) => e);
			// The pending row commits (and is audited) in milliseconds; the
			// processor answers after 2.5 s. Kill in between: as soon as the
			// audit log shows the charge recorded as pending.
			let pending = null;
			for (let i = 0; i < 40 && !pending; i++) {
				await sleep(50);
				pending = (await auditEvents(inst.vault, sk)).find((e) => e.action === 'charge.create');
			}
			assert.ok(pending, 'the charge was recorded before the processor answered');
			assert.equal(pending.details.status, 'pending');
			inst.vault.kill('SIGKILL');
			await inst.vault.waitExit();
			const err = await inflight;
			assert.ok(err instanceof Error, 'the client saw no answer');

			const vault = await inst.startService('vault', { extraEnv: { STRONGROOM_VAULT_SANDBOX_LATENCY_MS: '0' } });
			assert.ok(vault.logs.some((l) => l.msg === 'pending operation re-driven'), `recovery pass ran: ${vault.stderr}`);
			const retry = await call(vault, sk, 'POST', '/v1/charges', body, { 'Idempotency-Key': key });
			assert.equal(retry.status, 201, retry.text);
			assert.equal(retry.headers['idempotent-replayed'], 'true');
			assert.equal(retry.body.status, 'succeeded');
			assert.deepEqual(retry.body.metadata, { member: 'usr_k' });
			const audit = await auditEvents(vault, sk);
			assert.equal(retry.body.id, pending.target.id, 'the charge recorded before the crash');
			const mine = audit.filter((e) => e.target.id === retry.body.id).map((e) => e.action);
			assert.deepEqual(mine, ['charge.create', 'charge.succeeded']);
			assert.equal(audit.filter((e) => e.action === 'charge.create').length, 1);
		},
	);
});
