// SPDX-License-Identifier: Apache-2.0
//
// The hosted card form as a browser fetches it, on the backend chosen by
// SR_TEST_BACKEND: /v1/strongroom.js (a cacheable script with an ETag),
// /elements/card (framed only by [vault] platform_origins through CSP
// frame-ancestors, never cached, no inline code, accessible card fields),
// its script and style sheet; every bad query answered 400 naming the
// parameter; a bad platform_origins refused at start-up. The browser itself
// (typing a card into the frame) is vault_browser.test.mjs.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { useInstance, request, errorObject, createInstance, runBin, freePort } from './lib/harness.mjs';

const ORIGINS = 'https://shop.example, HTTPS://Checkout.Example:443, http://127.0.0.1:3000';
const EXPECTED = ['https://shop.example', 'https://checkout.example', 'http://127.0.0.1:3000'];

function cspDirectives(csp) {
	const out = {};
	for (const part of csp.split(';')) {
		const [name, ...values] = part.trim().split(/\s+/);
		if (name) out[name] = values;
	}
	return out;
}

function cardUrl(origin, key) {
	const q = new URLSearchParams();
	if (origin !== undefined) q.set('origin', origin);
	if (key !== undefined) q.set('key', key);
	return `/elements/card?${q}`;
}

describe('hosted card form with three platform origins', () => {
	const h = useInstance({ services: ['vault'], configOverrides: { vault: { platform_origins: ORIGINS } } });
	const pk = () => h.inst.credentials.vault_publishable_key;

	test('GET /v1/strongroom.js: a cacheable script with an ETag, 304 when unchanged', async () => {
		const v = h.inst.vault;
		const r = await request(v, '/v1/strongroom.js');
		assert.equal(r.status, 200);
		assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
		assert.equal(r.headers['cache-control'], 'public, max-age=300');
		assert.equal(r.headers['x-content-type-options'], 'nosniff');
		assert.match(r.headers.etag, /^"[0-9a-f]{32}"$/);
		assert.match(r.text, /Strongroom/);
		assert.match(r.text, /mount/);
		// Messages to the frame go to the vault's origin only, never "*".
		assert.doesNotMatch(r.text, /postMessage\([^)]*['"]\*['"]/);

		const again = await request(v, '/v1/strongroom.js', { headers: { 'If-None-Match': r.headers.etag } });
		assert.equal(again.status, 304);
		assert.equal(again.body.length, 0);
		assert.equal(again.headers.etag, r.headers.etag);
		const weak = await request(v, '/v1/strongroom.js', { headers: { 'If-None-Match': `"x", W/${r.headers.etag}` } });
		assert.equal(weak.status, 304);
		const stale = await request(v, '/v1/strongroom.js', { headers: { 'If-None-Match': '"0000"' } });
		assert.equal(stale.status, 200);
		assert.equal(stale.text, r.text);

		const head = await request(v, '/v1/strongroom.js', { method: 'HEAD' });
		assert.equal(head.status, 200);
		assert.equal(head.body.length, 0);
	});

	test('GET /elements/card: framed only by the configured origins, strict CSP, never cached', async () => {
		const r = await request(h.inst.vault, cardUrl('https://shop.example', pk()));
		assert.equal(r.status, 200, r.text);
		assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
		assert.equal(r.headers['cache-control'], 'no-store');
		assert.equal(r.headers['x-frame-options'], undefined, 'X-Frame-Options would block the marketplace');
		const csp = cspDirectives(r.headers['content-security-policy']);
		assert.deepEqual(csp['frame-ancestors'], EXPECTED);
		assert.deepEqual(csp['default-src'], ["'none'"]);
		assert.deepEqual(csp['script-src'], ["'self'"]);
		assert.deepEqual(csp['style-src'], ["'self'"]);
		assert.deepEqual(csp['connect-src'], ["'self'"]);
		assert.deepEqual(csp['form-action'], ["'none'"]);
		assert.deepEqual(csp['base-uri'], ["'none'"]);
		assert.ok(!r.headers['content-security-policy'].includes('unsafe'), 'no unsafe-inline / unsafe-eval');

		// Every origin in the list gets the form, and the same policy.
		for (const o of EXPECTED.slice(1)) {
			const o2 = await request(h.inst.vault, cardUrl(o, pk()));
			assert.equal(o2.status, 200, `${o}: ${o2.text}`);
			assert.deepEqual(cspDirectives(o2.headers['content-security-policy'])['frame-ancestors'], EXPECTED);
		}

		// The page itself: no inline script or style, only card.js / card.css.
		const html = r.text;
		const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
		assert.equal(scripts.length, 1);
		assert.match(scripts[0][1], /src="\/elements\/card\.js"/);
		assert.equal(scripts[0][2].trim(), '', 'no inline script');
		assert.doesNotMatch(html, /<style\b|\sstyle="|\son[a-z]+="/i, 'no inline style or event handler');
		assert.match(html, /<link rel="stylesheet" href="\/elements\/card\.css">/);

		// Fields a buyer (and a screen reader, and autofill) recognises.
		for (const [id, ac] of [['sr-number', 'cc-number'], ['sr-exp', 'cc-exp'], ['sr-cvc', 'cc-csc'], ['sr-name', 'cc-name']]) {
			const input = new RegExp(`<input id="${id}"[^>]*>`).exec(html);
			assert.ok(input, `input ${id}`);
			assert.match(input[0], new RegExp(`autocomplete="${ac}"`), `${id} autocomplete`);
			assert.match(input[0], /aria-describedby="[^"]+-error"/, `${id} error text is linked`);
			if (id !== 'sr-name') assert.match(input[0], /inputmode="numeric"/, `${id} numeric keyboard`);
			assert.match(html, new RegExp(`<label for="${id}">[^<]+</label>`), `${id} has a label`);
			assert.match(html, new RegExp(`<p id="${id}-error" class="sr-error" role="alert">`), `${id} error is announced`);
		}
		// The form is never submitted by the browser itself.
		assert.doesNotMatch(html, /<form[^>]*\baction=/);
	});

	test('card.js and card.css: right types, cacheable, same-origin fetches only', async () => {
		const js = await request(h.inst.vault, '/elements/card.js');
		assert.equal(js.status, 200);
		assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
		assert.equal(js.headers['cache-control'], 'public, max-age=300');
		assert.match(js.headers.etag, /^"[0-9a-f]{32}"$/);
		// The JWE the vault accepts, built with WebCrypto in the frame.
		assert.match(js.text, /RSA-OAEP-256/);
		assert.match(js.text, /A256GCM/);
		assert.match(js.text, /fetch\('\/v1\/tokens'/);
		assert.match(js.text, /fetch\('\/v1\/jwks\.json'/);
		assert.match(js.text, /application\/jose/);
		// Results go to the checked parent origin, never "*".
		assert.match(js.text, /window\.parent\.postMessage\(msg, parentOrigin\)/);
		assert.doesNotMatch(js.text, /postMessage\([^)]*['"]\*['"]/);

		const css = await request(h.inst.vault, '/elements/card.css');
		assert.equal(css.status, 200);
		assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
		assert.equal(css.headers['cache-control'], 'public, max-age=300');
		const again = await request(h.inst.vault, '/elements/card.css', { headers: { 'If-None-Match': css.headers.etag } });
		assert.equal(again.status, 304);
	});

	test('bad queries: 400 naming the parameter, readable inside an allowed frame, nothing runs', async () => {
		const cases = [
			[cardUrl(undefined, pk()), 'parameter_missing', 'origin'],
			[cardUrl('https://evil.example', pk()), 'origin_not_allowed', 'origin'],
			// Exact origins: another scheme, port, a path or a subdomain is another origin.
			[cardUrl('http://shop.example', pk()), 'origin_not_allowed', 'origin'],
			[cardUrl('https://shop.example:8443', pk()), 'origin_not_allowed', 'origin'],
			[cardUrl('https://shop.example/', pk()), 'origin_not_allowed', 'origin'],
			[cardUrl('https://a.shop.example', pk()), 'origin_not_allowed', 'origin'],
			[cardUrl('null', pk()), 'origin_not_allowed', 'origin'],
			[`/elements/card?origin=https%3A%2F%2Fshop.example&origin=https%3A%2F%2Fevil.example&key=${pk()}`, 'invalid_origin', 'origin'],
			[cardUrl('https://shop.example', undefined), 'parameter_missing', 'key'],
			[cardUrl('https://shop.example', h.inst.credentials.vault_secret_key), 'secret_key_in_browser', 'key'],
			[cardUrl('https://shop.example', 'pk_<script>'), 'invalid_publishable_key', 'key'],
			[cardUrl('https://shop.example', 'rk_123456'), 'invalid_publishable_key', 'key'],
			[cardUrl('https://shop.example', `pk_${'a'.repeat(200)}`), 'invalid_publishable_key', 'key'],
			[`/elements/card?origin=https%3A%2F%2Fshop.example&key=pk_%ZZ`, 'invalid_publishable_key', 'key'],
		];
		for (const [url, code, param] of cases) {
			const r = await request(h.inst.vault, url);
			assert.equal(r.status, 400, `${url}: ${r.text}`);
			assert.match(r.headers['content-type'], /^application\/json/);
			const e = errorObject(r.json());
			assert.equal(e.type, 'invalid_request_error', url);
			assert.equal(e.code, code, url);
			assert.equal(e.param, param, url);
			assert.equal(r.headers['cache-control'], 'no-store');
			const csp = cspDirectives(r.headers['content-security-policy']);
			assert.deepEqual(csp['default-src'], ["'none'"], 'an error page runs nothing');
			assert.deepEqual(csp['frame-ancestors'], EXPECTED);
			// Keys are never echoed back.
			assert.ok(!r.text.includes(h.inst.credentials.vault_secret_key), 'secret key not echoed');
		}
	});

	test('only GET; the other service does not serve the form', async () => {
		for (const p of ['/elements/card', '/v1/strongroom.js', '/elements/card.js', '/elements/card.css']) {
			const r = await request(h.inst.vault, p, { method: 'POST', body: 'x' });
			assert.equal(r.status, 405, p);
			assert.match(r.headers.allow, /GET/);
			errorObject(r.json());
		}
	});
});

test('the platform does not serve the card form or strongroom.js', async () => {
	const { startInstance } = await import('./lib/harness.mjs');
	const inst = await startInstance({ services: ['platform'] });
	try {
		for (const p of ['/v1/strongroom.js', `/elements/card?origin=https%3A%2F%2Flocalhost%3A8443&key=pk_x`]) {
			const r = await request(inst.platform, p);
			assert.equal(r.status, 404, p);
		}
	} finally {
		await inst.stop();
	}
});

test('default platform_origins is the development platform, https://localhost:8443', async () => {
	const { startInstance } = await import('./lib/harness.mjs');
	const inst = await startInstance({ services: ['vault'] });
	try {
		const r = await request(inst.vault, cardUrl('https://localhost:8443', inst.credentials.vault_publishable_key));
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(cspDirectives(r.headers['content-security-policy'])['frame-ancestors'], ['https://localhost:8443']);
	} finally {
		await inst.stop();
	}
});

test('a bad [vault] platform_origins stops the vault at start-up with a clear reason', async () => {
	const inst = await createInstance();
	try {
		const bad = [
			['', /empty origin/],
			['*', /must start with https:\/\//],
			['https://*.shop.example', /wildcard/],
			['https://shop.example/checkout', /no path/],
			['http://shop.example', /http:\/\/ for a host other than localhost/],
			['https://shop.example, https://shop.example:443', /listed twice/],
			['https://shop.example,,https://b.example', /empty origin/],
			['https://shop.example:99999', /invalid port/],
			['ftp://shop.example', /must start with https:\/\//],
		];
		for (const [value, why] of bad) {
			const port = await freePort();
			const r = await runBin(['vault', '--config', inst.configPath, '--listen', `127.0.0.1:${port}`], {
				env: { ...inst.dbEnv, STRONGROOM_VAULT_PLATFORM_ORIGINS: value },
				timeout: 20000,
			});
			assert.notEqual(r.code, 0, `${JSON.stringify(value)} was accepted`);
			assert.equal(r.timedOut, false, `${JSON.stringify(value)}: the vault kept running`);
			assert.match(r.stderr, /platform_origins/, value);
			assert.match(r.stderr, why, value);
		}
	} finally {
		await inst.dispose();
	}
});
