// SPDX-License-Identifier: Apache-2.0
//
// Limits an operator tunes in [limits], each set small through its
// STRONGROOM_LIMITS_* environment override so a test reaches it quickly:
// body size (413), the request-head deadline (408) and the slowloris attack
// it exists for, requests per connection, and connections per client
// address (429). Every limit must give its defined answer, then close.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useInstance, request, rawTls, httpRequest, parseResponses, errorObject, sleep } from './lib/harness.mjs';

async function expectAnswerThenClose(conn, status, { within = 3000 } = {}) {
	const [res] = await conn.waitResponses(1, 5000);
	assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 200)}`);
	errorObject(res.json());
	assert.match(res.headers.connection ?? '', /close/i, 'no Connection: close on a response before closing');
	const info = await conn.waitClosed(within);
	assert.equal(info.error?.code, undefined, `connection ended with ${info.error?.code} instead of a clean close`);
	return res;
}

describe('body size and head deadline (body_max=1024, header_timeout_ms=1000)', () => {
	const ctx = useInstance({
		services: ['platform'],
		env: { STRONGROOM_LIMITS_BODY_MAX: '1024', STRONGROOM_LIMITS_HEADER_TIMEOUT_MS: '1000' },
	});
	const P = () => ctx.inst.platform;

	test('Content-Length over body_max is 413 without waiting for the body', async () => {
		const conn = await rawTls(P());
		await conn.write(httpRequest('POST', '/healthz', { 'Content-Type': 'application/json', 'Content-Length': '4096' }));
		await expectAnswerThenClose(conn, 413);
	});

	test('Content-Length over body_max is 413 when the body is sent too', async () => {
		const conn = await rawTls(P());
		await conn.write(httpRequest('POST', '/v1/anything', { 'Content-Type': 'application/json', 'Content-Length': '2048' }, 'x'.repeat(2048)));
		await expectAnswerThenClose(conn, 413);
	});

	test('a chunked body growing past body_max is 413', async () => {
		const conn = await rawTls(P());
		await conn.write(httpRequest('POST', '/healthz', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }));
		const chunk = Buffer.from(`200\r\n${'y'.repeat(0x200)}\r\n`);
		for (let i = 0; i < 4 && !conn.isClosed && conn.data.length === 0; i++) {
			await conn.write(chunk);
			await sleep(20);
		}
		await expectAnswerThenClose(conn, 413);
	});

	test('a body within body_max is not refused for its size', async () => {
		const r = await request(P(), '/healthz', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: 'z'.repeat(1000) });
		assert.notEqual(r.status, 413);
		assert.equal(r.status, 405); // reaches routing: /healthz is GET only
	});

	test('a request head sent too slowly is 408 at the deadline, then closed', async () => {
		const conn = await rawTls(P());
		const head = httpRequest('GET', '/healthz');
		const start = Date.now();
		let i = 0;
		const trickle = setInterval(() => {
			if (i < head.length - 4 && !conn.isClosed) conn.write(head.subarray(i, ++i));
		}, 200);
		try {
			await expectAnswerThenClose(conn, 408, { within: 3000 });
		} finally {
			clearInterval(trickle);
		}
		const elapsed = conn.closeInfo.at - start;
		assert.ok(elapsed >= 900, `closed after ${elapsed} ms, before the 1000 ms deadline`);
		assert.ok(elapsed <= 2500, `closed after ${elapsed} ms, long after the 1000 ms deadline`);
	});

	test('slowloris: 50 trickling connections are cut at the deadline while others are served', async () => {
		const N = 50;
		const conns = await Promise.all(Array.from({ length: N }, () => rawTls(P())));
		const head = httpRequest('GET', '/healthz', { 'User-Agent': 'slowloris', 'X-Pad': 'p'.repeat(200) });
		const start = Date.now();
		const sent = new Array(N).fill(0);
		const trickle = setInterval(() => {
			conns.forEach((c, k) => {
				if (!c.isClosed && sent[k] < head.length - 4) c.write(head.subarray(sent[k], ++sent[k]));
			});
		}, 200);
		try {
			// A normal client is served promptly while the slow ones are open.
			await sleep(400);
			const t0 = Date.now();
			const r = await request(P(), '/healthz', { timeout: 3000 });
			const took = Date.now() - t0;
			assert.equal(r.status, 200);
			assert.ok(took < 1000, `/healthz took ${took} ms during the slowloris`);
			assert.ok(conns.every((c) => !c.isClosed), 'a slow connection was closed before its deadline');

			// Every slow connection is closed by the server shortly after the
			// deadline (we never close them ourselves).
			await Promise.all(conns.map((c) => c.waitClosed(4000)));
			const last = Math.max(...conns.map((c) => c.closeInfo.at)) - start;
			assert.ok(last <= 3500, `last slow connection closed ${last} ms after it started`);
			const answered408 = conns.filter((c) => /^HTTP\/1\.1 408 /.test(c.text)).length;
			assert.equal(answered408, N, `${N - answered408} slow connections were closed without a 408`);
		} finally {
			clearInterval(trickle);
			conns.forEach((c) => c.destroy());
		}
		// And the service is still fine afterwards.
		assert.equal((await request(P(), '/healthz')).status, 200);
	});
});

describe('requests per connection (requests_per_connection=3)', () => {
	const ctx = useInstance({ services: ['platform'], env: { STRONGROOM_LIMITS_REQUESTS_PER_CONNECTION: '3' } });

	test('the third response says Connection: close and the socket closes', async () => {
		const conn = await rawTls(ctx.inst.platform);
		for (let i = 0; i < 3; i++) {
			await conn.write(httpRequest('GET', '/healthz'));
			const rs = await conn.waitResponses(i + 1);
			assert.equal(rs[i].status, 200);
			if (i < 2) assert.doesNotMatch(rs[i].headers.connection ?? '', /close/i, `response ${i + 1} closes early`);
			else assert.match(rs[i].headers.connection ?? '', /close/i, 'third response lacks Connection: close');
		}
		const info = await conn.waitClosed(3000);
		assert.equal(info.error?.code, undefined, `closed with ${info.error?.code}`);
	});

	test('pipelined beyond the limit: exactly three answers, then close', async () => {
		const conn = await rawTls(ctx.inst.platform);
		await conn.write(Buffer.concat(Array.from({ length: 5 }, (_, i) => httpRequest('GET', '/healthz', { 'X-Request-Id': `rpc-limit-${i}` }))));
		await conn.waitClosed(3000);
		const { responses } = parseResponses(conn.data, { eof: true });
		assert.equal(responses.length, 3);
		assert.deepEqual(responses.map((r) => r.headers['x-request-id']), ['rpc-limit-0', 'rpc-limit-1', 'rpc-limit-2']);
		assert.match(responses[2].headers.connection ?? '', /close/i);
	});
});

describe('connections per client address (connections_per_ip=4)', () => {
	const ctx = useInstance({ services: ['platform'], env: { STRONGROOM_LIMITS_CONNECTIONS_PER_IP: '4' } });

	test('the 5th concurrent connection gets 429 and is closed; a slot frees on close', async () => {
		const P = ctx.inst.platform;
		// The harness's readiness probe connection must be gone first.
		await sleep(200);
		const held = [];
		try {
			for (let i = 0; i < 4; i++) {
				const c = await rawTls(P);
				await c.write(httpRequest('GET', '/healthz'));
				assert.equal((await c.waitResponses(1))[0].status, 200, `connection ${i + 1} of 4 refused`);
				held.push(c);
			}
			let fifth;
			try {
				fifth = await rawTls(P);
			} catch (e) {
				assert.fail(`5th connection failed its TLS handshake (${e.code ?? e.message}) instead of getting a 429`);
			}
			await fifth.write(httpRequest('GET', '/healthz'));
			const [res] = await fifth.waitResponses(1);
			assert.equal(res.status, 429);
			assert.equal(errorObject(res.json()).type, 'rate_limit_error');
			await fifth.waitClosed(3000);

			// Held connections still work.
			await held[0].write(httpRequest('GET', '/healthz'));
			assert.equal((await held[0].waitResponses(2))[1].status, 200);

			// Closing one frees a slot.
			held.pop().destroy();
			await sleep(300);
			const again = await rawTls(P);
			await again.write(httpRequest('GET', '/healthz'));
			assert.equal((await again.waitResponses(1))[0].status, 200);
			held.push(again);
		} finally {
			held.forEach((c) => c.destroy());
		}
	});
});
