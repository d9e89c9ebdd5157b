// SPDX-License-Identifier: Apache-2.0
//
// The HTTP layer as a client sees it with default limits: health, readiness
// and metrics endpoints, security headers, request ids, the error body, the
// defined answers to oversized or malformed requests, keep-alive,
// pipelining, and the per-request log line (which must never carry a query
// string, an Authorization header or a cookie).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
	useInstance, request, requestJson, rawTls, httpRequest, parseMetrics, metricSum, errorObject,
	keepAliveAgent, sleep, SERVICES,
} from './lib/harness.mjs';

const ctx = useInstance({ services: SERVICES });
const P = () => ctx.inst.platform;

/** Reads one response, checks it is `status` with an error body, then that the server closes cleanly. */
async function expectAnswerThenClose(conn, status) {
	const [res] = await conn.waitResponses(1, 5000);
	assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 200)}`);
	errorObject(res.json());
	assert.match(res.headers['content-type'] ?? '', /^application\/json/);
	assert.match(res.headers.connection ?? '', /close/i, 'no Connection: close on a response before closing');
	const info = await conn.waitClosed(3000);
	assert.equal(info.error?.code, undefined, `connection ended with ${info.error?.code} instead of a clean close`);
	return res;
}

for (const name of SERVICES) {
	describe(`${name}: health, readiness, metrics, headers`, () => {
		test('GET /healthz is 200 {"status":"ok"}', async () => {
			const r = await requestJson(ctx.inst[name], '/healthz');
			assert.equal(r.status, 200);
			assert.deepEqual(r.body, { status: 'ok' });
			assert.match(r.headers['content-type'], /^application\/json/);
		});

		test('GET /readyz is 200 {"status":"ready"} once started', async () => {
			const r = await requestJson(ctx.inst[name], '/readyz');
			assert.equal(r.status, 200);
			assert.deepEqual(r.body, { status: 'ready' });
		});

		for (const [what, path] of [['a 200', '/healthz'], ['a 404', '/no/such/path']]) {
			test(`security headers on ${what}`, async () => {
				const r = await request(ctx.inst[name], path);
				const h = r.headers;
				const hsts = /max-age=(\d+)/.exec(h['strict-transport-security'] ?? '');
				assert.ok(hsts, `no HSTS max-age: ${h['strict-transport-security']}`);
				assert.ok(Number(hsts[1]) >= 31536000, `HSTS max-age ${hsts[1]} is under a year`);
				assert.equal(h['x-content-type-options'], 'nosniff');
				assert.match(h['referrer-policy'] ?? '', /^(no-referrer|same-origin|strict-origin|strict-origin-when-cross-origin)$/);
				assert.match(h['content-security-policy'] ?? '', /frame-ancestors 'none'/);
				assert.match(h['x-request-id'] ?? '', /^\S{8,64}$/);
			});
		}

		test('GET /metrics is Prometheus text with the core series', async () => {
			const svc = ctx.inst[name];
			await request(svc, '/healthz');
			const r = await request(svc, '/metrics');
			assert.equal(r.status, 200);
			assert.match(r.headers['content-type'], /^text\/plain/);
			const m = parseMetrics(r.text);
			const names = new Set(m.samples.map((s) => s.name));
			for (const n of ['sr_http_requests_total', 'sr_http_open_connections', 'sr_tls_handshakes_total', 'sr_worker_queue_depth'])
				assert.ok(names.has(n), `no ${n} in /metrics`);
			assert.ok(metricSum(m, 'sr_tls_handshakes_total') >= 2, 'TLS handshakes not counted');
			assert.ok(metricSum(m, 'sr_http_open_connections') >= 1, 'our own open connection not counted');
			const histos = Object.entries(m.types).filter(([, t]) => t === 'histogram').map(([n]) => n);
			assert.ok(histos.length > 0, 'no histogram in /metrics');
			for (const h of histos) {
				assert.ok(m.samples.some((s) => s.name === `${h}_bucket` && s.labels.le === '+Inf'), `${h} has no +Inf bucket`);
				assert.ok(names.has(`${h}_sum`) && names.has(`${h}_count`), `${h} lacks _sum/_count`);
			}
		});
	});
}

describe('platform: metrics count requests by route', () => {
	test('three GET /healthz add three to sr_http_requests_total{route="/healthz"}', async () => {
		const count = async () => metricSum(parseMetrics((await request(P(), '/metrics')).text), 'sr_http_requests_total', { route: '/healthz' });
		const before = await count();
		for (let i = 0; i < 3; i++) assert.equal((await request(P(), '/healthz')).status, 200);
		let after = await count();
		for (let i = 0; i < 20 && after < before + 3; i++) {
			await sleep(100);
			after = await count();
		}
		assert.equal(after, before + 3);
	});

	test('the request-duration histogram counts requests', async () => {
		const m = parseMetrics((await request(P(), '/metrics')).text);
		const histos = Object.entries(m.types).filter(([, t]) => t === 'histogram').map(([n]) => n);
		assert.ok(histos.some((h) => metricSum(m, `${h}_count`) > 0), `no histogram has a non-zero _count: ${histos}`);
	});
});

describe('platform: request ids', () => {
	test('generated when absent, different per request', async () => {
		const a = await request(P(), '/healthz');
		const b = await request(P(), '/healthz');
		assert.match(a.headers['x-request-id'] ?? '', /^[A-Za-z0-9._-]{8,64}$/);
		assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
	});

	test('echoed when a valid one is sent', async () => {
		const id = `e2e-${randomBytes(8).toString('hex')}`;
		const r = await request(P(), '/healthz', { headers: { 'X-Request-Id': id } });
		assert.equal(r.headers['x-request-id'], id);
	});

	for (const [why, bad] of [['too long', 'a'.repeat(200)], ['with spaces and markup', 'bad id <script>'], ['with a quote', 'ab"cd"ef']]) {
		test(`replaced when invalid (${why})`, async () => {
			const r = await request(P(), '/healthz', { headers: { 'X-Request-Id': bad } });
			assert.equal(r.status, 200);
			assert.notEqual(r.headers['x-request-id'], bad);
			assert.match(r.headers['x-request-id'] ?? '', /^[A-Za-z0-9._-]{8,64}$/);
		});
	}
});

describe('platform: errors', () => {
	test('unknown path is 404 with the error object', async () => {
		const r = await requestJson(P(), '/v1/does-not-exist');
		assert.equal(r.status, 404);
		const e = errorObject(r.body);
		assert.equal(e.type, 'invalid_request_error');
		assert.equal(e.param, null);
		assert.match(r.headers['content-type'], /^application\/json/);
	});

	for (const method of ['POST', 'DELETE', 'PUT']) {
		test(`${method} /healthz is 405 with Allow: GET`, async () => {
			const r = await requestJson(P(), '/healthz', { method, headers: { 'Content-Length': '0' } });
			assert.equal(r.status, 405);
			errorObject(r.body);
			const allow = (r.headers.allow ?? '').split(',').map((s) => s.trim());
			assert.ok(allow.includes('GET'), `Allow: ${r.headers.allow}`);
			assert.ok(!allow.includes(method), `Allow lists ${method}`);
		});
	}
});

describe('platform: limits with a defined answer, then a clean close', () => {
	test('request line too long is 414', async () => {
		const conn = await rawTls(P());
		await conn.write(httpRequest('GET', `/${'a'.repeat(9000)}`));
		await expectAnswerThenClose(conn, 414);
	});

	test('too many header bytes is 431', async () => {
		const conn = await rawTls(P());
		const headers = Array.from({ length: 20 }, (_, i) => [`X-Filler-${i}`, 'f'.repeat(1000)]);
		await conn.write(httpRequest('GET', '/healthz', headers));
		await expectAnswerThenClose(conn, 431);
	});

	test('too many headers is 431', async () => {
		const conn = await rawTls(P());
		const headers = Array.from({ length: 70 }, (_, i) => [`X-H-${i}`, '1']);
		await conn.write(httpRequest('GET', '/healthz', headers));
		await expectAnswerThenClose(conn, 431);
	});

	test('64 small headers (the default maximum) are still served', async () => {
		const conn = await rawTls(P());
		const headers = Array.from({ length: 63 }, (_, i) => [`X-H-${i}`, '1']); // + Host = 64
		await conn.write(httpRequest('GET', '/healthz', headers));
		const [res] = await conn.waitResponses(1);
		assert.equal(res.status, 200);
		conn.destroy();
	});

	const malformed = {
		'a header line without a colon': 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nthis is not a header\r\n\r\n',
		'a method with invalid characters': 'G@T /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n',
		'Content-Length and Transfer-Encoding together (smuggling)':
			'POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
		'two different Content-Length values':
			'POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
		'an invalid chunk size': 'POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
		'a missing Host header (HTTP/1.1)': 'GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n',
	};
	for (const [what, bytes] of Object.entries(malformed)) {
		test(`malformed request (${what}) is 400`, async () => {
			const conn = await rawTls(P());
			await conn.write(Buffer.from(bytes, 'latin1'));
			await expectAnswerThenClose(conn, 400);
		});
	}
});

describe('platform: keep-alive and pipelining', () => {
	test('several requests on one TLS connection', async () => {
		const conn = await rawTls(P());
		for (let i = 0; i < 5; i++) {
			await conn.write(httpRequest('GET', i % 2 ? '/readyz' : '/healthz'));
			const responses = await conn.waitResponses(i + 1);
			assert.equal(responses[i].status, 200);
			assert.doesNotMatch(responses[i].headers.connection ?? '', /close/i);
		}
		await sleep(200);
		assert.equal(conn.isClosed, false, 'server closed a keep-alive connection after 5 requests');
		conn.destroy();
	});

	test('an https keep-alive agent reuses its socket', async () => {
		const agent = keepAliveAgent(P());
		try {
			const a = await request(P(), '/healthz', { agent });
			const b = await request(P(), '/healthz', { agent });
			assert.equal(a.status, 200);
			assert.equal(b.status, 200);
			assert.equal(b.reusedSocket, true);
		} finally {
			agent.destroy();
		}
	});

	test('5 pipelined requests in one write get 5 responses in order', async () => {
		const conn = await rawTls(P());
		const tag = randomBytes(4).toString('hex');
		const plan = [['/healthz', 200], ['/readyz', 200], ['/nope', 404], ['/healthz', 200], ['/metrics', 200]];
		const burst = Buffer.concat(plan.map(([p], i) => httpRequest('GET', p, { 'X-Request-Id': `pipe-${tag}-${i}` })));
		await conn.write(burst);
		const responses = await conn.waitResponses(plan.length);
		assert.deepEqual(responses.map((r) => r.headers['x-request-id']), plan.map((_, i) => `pipe-${tag}-${i}`));
		assert.deepEqual(responses.map((r) => r.status), plan.map(([, s]) => s));
		assert.deepEqual(responses[0].json(), { status: 'ok' });
		assert.deepEqual(responses[1].json(), { status: 'ready' });
		conn.destroy();
	});

	test('a pipelined burst split at odd byte boundaries is still answered in order', async () => {
		const conn = await rawTls(P());
		const tag = randomBytes(4).toString('hex');
		const burst = Buffer.concat([0, 1, 2].map((i) => httpRequest('GET', '/healthz', { 'X-Request-Id': `split-${tag}-${i}` })));
		for (let off = 0; off < burst.length; off += 37) {
			await conn.write(burst.subarray(off, off + 37));
			await sleep(2);
		}
		const responses = await conn.waitResponses(3);
		assert.deepEqual(responses.map((r) => r.headers['x-request-id']), [0, 1, 2].map((i) => `split-${tag}-${i}`));
		conn.destroy();
	});
});

describe('platform: request logs', () => {
	test('one JSON line per request with id, method, route, status, duration, bytes', async () => {
		const id = `log-${randomBytes(8).toString('hex')}`;
		const r = await request(P(), '/healthz', { headers: { 'X-Request-Id': id } });
		assert.equal(r.status, 200);
		const hasId = (l) => Object.values(l).includes(id);
		await P().waitForLog(hasId, { timeoutMs: 3000 });
		await sleep(100);
		const lines = P().logs.filter(hasId);
		assert.equal(lines.length, 1, `expected one log line for request ${id}: ${JSON.stringify(lines)}`);
		const l = lines[0];
		assert.equal(l.method, 'GET');
		assert.equal(l.route, '/healthz');
		assert.equal(l.status, 200);
		const durationKey = Object.keys(l).find((k) => /^dur/.test(k));
		assert.ok(durationKey && typeof l[durationKey] === 'number' && l[durationKey] >= 0, `no numeric duration: ${JSON.stringify(l)}`);
		const bytesKey = Object.keys(l).find((k) => /bytes/.test(k));
		assert.ok(bytesKey && typeof l[bytesKey] === 'number' && l[bytesKey] > 0, `no numeric bytes: ${JSON.stringify(l)}`);
		assert.equal(typeof l.ts, 'string');
		assert.equal(typeof l.level, 'string');
	});

	test('query strings, Authorization and Cookie values never reach the logs', async () => {
		const bearer = `sk_test_${randomBytes(12).toString('hex')}`;
		const cookie = `c${randomBytes(12).toString('hex')}`;
		const ids = [];
		for (const path of ['/healthz?token=secret123', '/v1/missing?token=secret123&x=1', '/healthz?secret123']) {
			const id = `redact-${randomBytes(6).toString('hex')}`;
			ids.push(id);
			await request(P(), path, {
				headers: { Authorization: `Bearer ${bearer}`, Cookie: `sid=${cookie}`, 'X-Request-Id': id },
			});
		}
		for (const id of ids) await P().waitForLog((l) => Object.values(l).includes(id), { timeoutMs: 3000 });
		const all = P().stderr;
		assert.ok(!all.includes('secret123'), 'a query string value was logged');
		assert.ok(!all.includes(bearer), 'an Authorization header value was logged');
		assert.ok(!all.includes(cookie), 'a Cookie value was logged');
		const first = P().logs.find((l) => Object.values(l).includes(ids[0]));
		assert.equal(first.route, '/healthz');
	});

	test('every stderr line is JSON', () => {
		for (const svc of Object.values(ctx.inst.services)) {
			const bad = svc.logs.filter((l) => 'raw' in l);
			assert.deepEqual(bad, [], `${svc.name} wrote non-JSON lines`);
		}
	});
});
