// SPDX-License-Identifier: Apache-2.0
//
// TLS as a client sees it, on both services: TLS 1.2 minimum, AEAD ciphers
// with forward secrecy only, ALPN, session resumption, and no plaintext HTTP
// on the HTTPS port. Old protocol versions must be refused by the SERVER:
// the client is configured so that it would happily speak them (security
// level 0), so a failure can only come from the server's alert.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useInstance, tlsProbe, rawTls, rawTcp, openssl, httpRequest, SERVICES } from './lib/harness.mjs';

const ctx = useInstance({ services: SERVICES });

// Errors meaning "the server sent an alert refusing the handshake", as
// opposed to the client giving up on its own (e.g. NO_PROTOCOLS_AVAILABLE).
const SERVER_REFUSED = /ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE|ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY|ECONNRESET/;

for (const name of SERVICES) {
	describe(`${name}: TLS`, () => {
		for (const version of ['TLSv1', 'TLSv1.1']) {
			test(`${version} is refused by the server`, async () => {
				const svc = ctx.inst[name];
				const r = await tlsProbe(svc, { minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
				assert.equal(r.ok, false, `${version} handshake succeeded (negotiated ${r.protocol} ${r.cipher?.name})`);
				assert.match(r.error.code ?? r.error.message, /ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ECONNRESET/,
					`expected the server to refuse with a protocol_version alert, got ${r.error.code}: ${r.error.message}`);
			});
		}

		test('openssl s_client -tls1_1 is refused (cross-check with another TLS stack)', async () => {
			const svc = ctx.inst[name];
			const r = await openssl(['s_client', '-connect', `127.0.0.1:${svc.port}`, '-servername', 'localhost',
				'-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], { input: '', timeout: 10000 });
			assert.notEqual(r.code, 0, `s_client -tls1_1 connected:\n${r.stdout}`);
			assert.match(r.stderr + r.stdout, /alert protocol version|unsupported protocol|wrong version number/i);
			assert.doesNotMatch(r.stdout, /^New, TLSv1/m, "s_client reports a negotiated TLS 1.x session");
		});

		test('TLS 1.2 is accepted with an ECDHE + AEAD cipher', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
			assert.equal(r.ok, true, `TLS 1.2 refused: ${r.error?.message}`);
			assert.equal(r.protocol, 'TLSv1.2');
			assert.match(r.cipher.name, /^ECDHE-(ECDSA|RSA)-/, `cipher ${r.cipher.name} lacks forward secrecy`);
			assert.match(r.cipher.name, /GCM|CHACHA20/, `cipher ${r.cipher.name} is not AEAD`);
			assert.equal(r.ephemeral.type, 'ECDH');
		});

		test('TLS 1.2 with the client preferring CBC still negotiates AEAD', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, {
				maxVersion: 'TLSv1.2',
				ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256',
			});
			assert.equal(r.ok, true, `handshake failed: ${r.error?.message}`);
			assert.match(r.cipher.name, /GCM|CHACHA20/);
		});

		test('TLS 1.2 client offering only CBC suites is refused', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, {
				maxVersion: 'TLSv1.2',
				ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:' +
					'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384',
			});
			assert.equal(r.ok, false, `CBC-only handshake succeeded with ${r.cipher?.name}`);
			assert.match(r.error.code ?? '', SERVER_REFUSED, r.error.message);
		});

		test('TLS 1.2 client offering only static-RSA key exchange is refused', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, {
				maxVersion: 'TLSv1.2',
				ciphers: 'AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA',
			});
			assert.equal(r.ok, false, `RSA-kx handshake succeeded with ${r.cipher?.name}`);
			assert.match(r.error.code ?? '', SERVER_REFUSED, r.error.message);
		});

		test('TLS 1.3 is accepted with an AEAD suite and is what a modern client gets', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, {});
			assert.equal(r.ok, true, r.error?.message);
			assert.equal(r.protocol, 'TLSv1.3');
			assert.match(r.cipher.name, /^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/);
		});

		test('the certificate is issued by the instance CA for localhost', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, {});
			assert.equal(r.ok, true, r.error?.message); // verified against ca.crt only
			assert.match(r.cert.subjectaltname ?? '', /DNS:localhost/);
			assert.match(r.cert.subjectaltname ?? '', /IP Address:127\.0\.0\.1/);
		});

		test('ALPN selects http/1.1 when offered (and never h2)', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, { ALPNProtocols: ['h2', 'http/1.1'] });
			assert.equal(r.ok, true, r.error?.message);
			assert.equal(r.alpn, 'http/1.1');
		});

		test('a client offering only h2 via ALPN is not told h2', async () => {
			const svc = ctx.inst[name];
			const r = await tlsProbe(svc, { ALPNProtocols: ['h2'] });
			// Either a no_application_protocol alert or no ALPN at all; never h2.
			if (r.ok) assert.notEqual(r.alpn, 'h2');
		});

		test('TLS 1.2 session resumption', async () => {
			const svc = ctx.inst[name];
			const first = await tlsProbe(svc, { maxVersion: 'TLSv1.2' });
			assert.equal(first.ok, true, first.error?.message);
			assert.equal(first.reused, false);
			assert.ok(first.session, 'no session to resume');
			const second = await tlsProbe(svc, { maxVersion: 'TLSv1.2', session: first.session });
			assert.equal(second.ok, true, second.error?.message);
			assert.equal(second.reused, true, 'the second TLS 1.2 connection was not resumed');
		});

		test('TLS 1.3 session resumption with a ticket', async () => {
			const svc = ctx.inst[name];
			// TLS 1.3 tickets arrive after the handshake; read a response so
			// they are processed.
			const conn = await rawTls(svc, { minVersion: 'TLSv1.3' });
			const tickets = [];
			conn.socket.on('session', (s) => tickets.push(s));
			await conn.write(httpRequest('GET', '/healthz'));
			await conn.waitResponses(1);
			await conn.waitUntil(() => tickets.length > 0, 3000, 'a TLS 1.3 session ticket');
			conn.destroy();
			const second = await tlsProbe(svc, { minVersion: 'TLSv1.3', session: tickets.at(-1) });
			assert.equal(second.ok, true, second.error?.message);
			assert.equal(second.reused, true, 'the second TLS 1.3 connection was not resumed');
		});

		test('plain HTTP on the HTTPS port gets no HTTP response', async () => {
			const svc = ctx.inst[name];
			const conn = await rawTcp(svc);
			await conn.write(Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'));
			await conn.waitClosed(5000);
			assert.doesNotMatch(conn.text, /HTTP\/1\.[01]/, 'the server answered plaintext HTTP');
			assert.doesNotMatch(conn.text, /"status"/);
		});
	});
}

test('platform and vault present different certificates', async () => {
	const p = await tlsProbe(ctx.inst.platform, {});
	const v = await tlsProbe(ctx.inst.vault, {});
	assert.equal(p.ok && v.ok, true);
	assert.notEqual(p.cert.fingerprint256, v.cert.fingerprint256);
});
