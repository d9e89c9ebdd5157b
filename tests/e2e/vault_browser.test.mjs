// SPDX-License-Identifier: Apache-2.0
//
// The hosted card form in a real browser (Debian's Chromium, driven by
// playwright-core), as a marketplace uses it: a checkout page served from
// another origin (a small Node HTTPS server with a certificate from the
// instance CA) includes the vault's strongroom.js and mounts the form; a
// buyer types a test card into the iframe; the page receives a tok_ token
// whose last4 matches, and never the card number: not in its DOM, not in
// any message it receives, not in any request but the JWE to the vault.
// A page whose origin is not in [vault] platform_origins cannot frame the
// form (CSP frame-ancestors), even when it claims a listed origin.
//
// Skips, saying why, only when Chromium is not installed (scripts/deps.sh
// test installs it). SR_CHROMIUM overrides /usr/bin/chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import path from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import { access, constants, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { startInstance, freePort, issueCert } from './lib/harness.mjs';

const CHROMIUM = process.env.SR_CHROMIUM || '/usr/bin/chromium';
let chromiumMissing = null;
try {
	await access(CHROMIUM, constants.X_OK);
} catch {
	chromiumMissing = `Chromium not found at ${CHROMIUM}: install Debian's chromium (scripts/deps.sh test) or set SR_CHROMIUM`;
}
const skip = chromiumMissing ?? false;
if (chromiumMissing) process.stderr.write(`# vault_browser: SKIPPED: ${chromiumMissing}\n`);

const PAN = '4242424242424242';
const thisYear = new Date().getFullYear();
const EXP_YY = String((thisYear + 3) % 100).padStart(2, '0');

// The checkout page of the test marketplace. Everything it learns is kept
// in window.__seen so the test can look for card data in it.
function checkoutPage(vaultOrigin, pk, { claimOrigin, loadTimeoutMs = 15000 } = {}) {
	const direct = claimOrigin
		? // A hostile page framing the form directly, claiming a listed origin.
			`const f = document.createElement('iframe');
			f.src = ${JSON.stringify(`${vaultOrigin}/elements/card?origin=${encodeURIComponent(claimOrigin)}&key=${pk}`)};
			document.getElementById('card').appendChild(f);`
		: `window.__card = Strongroom.mount('#card', {
				publishableKey: ${JSON.stringify(pk)},
				onToken: (r) => window.__seen.tokens.push(r),
				onError: (e) => window.__seen.errors.push(e),
				onChange: (s) => window.__seen.changes.push(s),
				onReady: () => { window.__seen.ready = true; },
				loadTimeoutMs: ${loadTimeoutMs},
				style: { color: '#111111', fontSize: '15px' },
			});
			document.getElementById('pay').addEventListener('click', async () => {
				window.__seen.results.push(await window.__card.submit());
			});`;
	return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout</title>
<script src="${vaultOrigin}/v1/strongroom.js"></script></head>
<body><h1>Checkout</h1>
<!-- Pay above the form: the frame resizes itself (error text), which must not move the button under a click. -->
<button id="pay" type="button">Pay</button><div id="card"></div>
<script>
window.__seen = { messages: [], tokens: [], errors: [], changes: [], results: [], ready: false };
window.addEventListener('message', (e) => window.__seen.messages.push({ origin: e.origin, data: JSON.stringify(e.data) }));
${direct}
</script></body></html>`;
}

// pages: {path: html}
function serve(port, tls, pages) {
	return new Promise((resolve, reject) => {
		const srv = https.createServer(tls, (req, res) => {
			if (Object.hasOwn(pages, req.url)) {
				res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
				res.end(pages[req.url]);
			} else {
				res.writeHead(404).end();
			}
		});
		srv.on('error', reject);
		srv.listen(port, '127.0.0.1', () => resolve(srv));
	});
}

// Chromium trusts exactly the instance's two leaf keys (vault and checkout
// pages), by SPKI hash, instead of ignoring certificate errors wholesale.
function spkiHash(pem) {
	const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
	return createHash('sha256').update(der).digest('base64');
}

const ctx = {};

before(async () => {
	if (skip) return;
	let chromium;
	try {
		({ chromium } = await import('playwright-core'));
	} catch (e) {
		throw new Error(`playwright-core is not installed (scripts/npm-deps.sh installs tests/e2e/package-lock.json): ${e.message}`);
	}
	ctx.tmp = await mkdtemp(path.join(os.tmpdir(), 'sr-browser-'));
	const shopPort = await freePort();
	const otherPort = await freePort();
	const evilPort = await freePort();
	// shop and other are listed in platform_origins; evil is not.
	ctx.shopOrigin = `https://localhost:${shopPort}`;
	ctx.otherOrigin = `https://127.0.0.1:${otherPort}`;
	ctx.evilOrigin = `https://127.0.0.1:${evilPort}`;
	ctx.inst = await startInstance({
		services: ['vault'],
		configOverrides: { vault: { platform_origins: `${ctx.shopOrigin}, ${ctx.otherOrigin}` } },
	});
	const v = ctx.inst.vault;
	ctx.vaultOrigin = `https://localhost:${v.port}`;
	const pk = ctx.inst.credentials.vault_publishable_key;

	const tlsDir = path.join(ctx.inst.dir, 'tls');
	const cert = path.join(ctx.tmp, 'shop.crt');
	const key = path.join(ctx.tmp, 'shop.key');
	await issueCert({ caCert: path.join(tlsDir, 'ca.crt'), caKey: path.join(tlsDir, 'ca.key'), outCert: cert, outKey: key, workDir: ctx.tmp });
	const tls = { cert: await readFile(cert), key: await readFile(key) };
	ctx.shop = await serve(shopPort, tls, { '/checkout': checkoutPage(ctx.vaultOrigin, pk) });
	ctx.other = await serve(otherPort, tls, { '/checkout': checkoutPage(ctx.vaultOrigin, pk, { claimOrigin: ctx.shopOrigin }) });
	ctx.evil = await serve(evilPort, tls, {
		'/checkout': checkoutPage(ctx.vaultOrigin, pk, { claimOrigin: ctx.shopOrigin }),
		'/honest': checkoutPage(ctx.vaultOrigin, pk, { loadTimeoutMs: 3000 }),
	});

	const spki = [spkiHash(await readFile(path.join(tlsDir, 'vault.crt'), 'utf8')), spkiHash(tls.cert.toString())];
	ctx.browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		// As root on a machine without outside network: no sandbox, and no
		// background connections Chromium would make to the internet.
		args: [
			'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			`--ignore-certificate-errors-spki-list=${spki.join(',')}`,
		],
	});
});

after(async () => {
	if (ctx.browser) await ctx.browser.close();
	for (const s of [ctx.shop, ctx.other, ctx.evil]) if (s) await new Promise((r) => s.close(r));
	if (ctx.inst) await ctx.inst.stop();
	if (ctx.tmp) await rm(ctx.tmp, { recursive: true, force: true });
});

async function openCheckout(origin, pagePath = '/checkout') {
	const page = await ctx.browser.newPage();
	const log = { requests: [], console: [] };
	page.on('request', (r) => log.requests.push({ url: r.url(), method: r.method(), headers: r.headers(), body: r.postData() ?? '' }));
	page.on('console', (m) => log.console.push(m.text()));
	await page.goto(`${origin}${pagePath}`);
	return { page, log };
}

const seen = (page) => page.evaluate(() => window.__seen);

// Waits for the n-th submit() result; on a timeout says what the page saw.
async function waitResults(page, n) {
	try {
		await page.waitForFunction((k) => window.__seen.results.length >= k, n, { timeout: 20000 });
	} catch (e) {
		throw new Error(`no result #${n}: ${e.message}; the page saw ${JSON.stringify(await seen(page))}`);
	}
}

test('a buyer types a card into the frame; the checkout page gets a token and never the number', { skip, timeout: 60000 }, async () => {
	const { page, log } = await openCheckout(ctx.shopOrigin);
	try {
		await page.waitForFunction(() => window.__seen.ready === true, null, { timeout: 15000 });
		const frame = page.frameLocator('iframe[title="Secure card payment form"]');
		const number = frame.getByLabel('Card number');
		const exp = frame.getByLabel('Expiry (MM / YY)');
		const cvc = frame.getByLabel('Security code');
		const name = frame.getByLabel('Name on card');

		// Live validation: a mistyped number is flagged once complete.
		await number.pressSequentially('4242424242424241');
		await frame.locator('#sr-number-error').getByText('Your card number is invalid.').waitFor();
		assert.equal(await number.getAttribute('aria-invalid'), 'true');
		assert.equal(await frame.locator('#sr-brand').textContent(), 'Visa');
		// A past expiry too.
		await exp.pressSequentially('0120');
		await frame.locator('#sr-exp-error').getByText('in the past').waitFor();

		await number.fill('');
		await number.pressSequentially(PAN);
		assert.equal(await number.inputValue(), '4242 4242 4242 4242', 'grouped as printed on the card');
		assert.equal(await number.getAttribute('aria-invalid'), 'false');
		await exp.fill('');
		await exp.pressSequentially(`12${EXP_YY}`);
		assert.equal(await exp.inputValue(), `12 / ${EXP_YY}`);
		await cvc.pressSequentially('123');
		await name.pressSequentially('Jenny Rosen');
		await page.waitForFunction(() => window.__seen.changes.at(-1)?.complete === true);
		assert.equal((await seen(page)).changes.at(-1).brand, 'visa');

		// The parent cannot reach into the frame: another origin.
		assert.equal(await page.evaluate(() => document.querySelector('iframe').contentDocument), null);

		await page.click('#pay');
		await waitResults(page, 1);
		const s = await seen(page);
		const { token, error } = s.results[0];
		assert.equal(error, undefined, JSON.stringify(error));
		assert.match(token.id, /^tok_/);
		assert.deepEqual(token.card, { brand: 'visa', last4: '4242', exp_month: 12, exp_year: thisYear + 3 });
		assert.deepEqual(s.tokens, [{ token }], 'onToken got the same token');

		// The frame cleared itself for the next card.
		assert.equal(await number.inputValue(), '');
		assert.equal(await cvc.inputValue(), '');

		// The checkout page never held card data: not in its DOM, nor in any
		// message it received (all of them from the vault's origin).
		const dom = await page.evaluate(() => document.documentElement.outerHTML);
		const everything = JSON.stringify(s) + dom;
		for (const leak of [PAN, '4242 4242 4242 4242', '424242424242', 'Jenny Rosen', `12 / ${EXP_YY}`])
			assert.ok(!everything.includes(leak), `the checkout page saw ${leak}`);
		assert.doesNotMatch(everything, /\\?"(cvc|number|name)\\?":/, 'no card fields in messages');
		for (const m of s.messages) assert.equal(m.origin, ctx.vaultOrigin, 'only the vault talks to the page');

		// On the wire: the card went only to the vault's /v1/tokens, as a
		// compact JWE with the publishable key; no URL or other body has it.
		const posts = log.requests.filter((r) => r.method === 'POST');
		assert.equal(posts.length, 1, JSON.stringify(posts.map((r) => r.url)));
		const tok = posts[0];
		assert.equal(tok.url, `${ctx.vaultOrigin}/v1/tokens`);
		assert.equal(tok.headers['content-type'], 'application/jose');
		assert.equal(tok.headers.authorization, `Bearer ${ctx.inst.credentials.vault_publishable_key}`);
		const parts = tok.body.split('.');
		assert.equal(parts.length, 5, 'compact JWE');
		const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
		assert.equal(header.alg, 'RSA-OAEP-256');
		assert.equal(header.enc, 'A256GCM');
		assert.match(header.kid, /^rk_/);
		for (const r of log.requests) {
			assert.ok(!r.url.includes('4242424242'), `PAN in ${r.url}`);
			assert.ok(!r.body.includes('4242424242') && !r.body.includes('Jenny'), `card data in the body to ${r.url}`);
			assert.ok(r.url.startsWith(ctx.shopOrigin) || r.url.startsWith(ctx.vaultOrigin), `request to ${r.url}`);
		}
		// The vault's own logs never name the card either.
		assert.ok(!ctx.inst.vault.stderr.includes(PAN), 'PAN in the vault log');
	} finally {
		await page.close();
	}
});

test('a declined card: the page gets the decline, the frame shows it, no token', { skip, timeout: 60000 }, async () => {
	const { page } = await openCheckout(ctx.shopOrigin);
	try {
		await page.waitForFunction(() => window.__seen.ready === true, null, { timeout: 15000 });
		const frame = page.frameLocator('iframe[title="Secure card payment form"]');
		await frame.getByLabel('Card number').pressSequentially('4000000000000002');
		await frame.getByLabel('Expiry (MM / YY)').pressSequentially(`12${EXP_YY}`);
		await frame.getByLabel('Security code').pressSequentially('123');
		await page.click('#pay');
		await waitResults(page, 1);
		const s = await seen(page);
		assert.equal(s.results[0].token, undefined);
		assert.equal(s.results[0].error.code, 'generic_decline');
		assert.deepEqual(s.tokens, []);
		assert.equal(s.errors.length, 1);
		// The buyer is told inside the frame, and can correct the card.
		assert.ok((await frame.locator('#sr-form-error').textContent()).length > 0, 'decline shown in the frame');
		assert.equal(await frame.getByLabel('Card number').inputValue(), '4000 0000 0000 0002');

		// An incomplete card never leaves the browser: a validation error.
		await frame.getByLabel('Security code').fill('');
		await page.click('#pay');
		await waitResults(page, 2);
		const s2 = await seen(page);
		assert.equal(s2.results[1].error.code, 'incomplete_cvc');
		assert.equal(s2.results[1].error.param, 'cvc');
		assert.equal(await frame.locator('#sr-cvc-error').textContent(), 'Enter the security code.');
	} finally {
		await page.close();
	}
});

test('a page whose origin is not in platform_origins cannot frame the form', { skip, timeout: 60000 }, async () => {
	// The hostile page claims the listed origin in ?origin=, so the vault
	// serves the form; the browser must still refuse to render it there.
	const { page, log } = await openCheckout(ctx.evilOrigin);
	try {
		await page.waitForFunction(
			() => document.querySelector('iframe') !== null,
			null, { timeout: 5000 });
		// Give the frame time to load (or be blocked), then look.
		await page.waitForTimeout(1500);
		const frame = page.frames().find((f) => f !== page.mainFrame());
		assert.ok(frame, 'the iframe exists');
		const inputs = await frame.locator('input').count().catch(() => 0);
		assert.equal(inputs, 0, 'no card fields rendered inside the hostile page');
		const s = await seen(page);
		assert.deepEqual(s.messages, [], 'the form never talked to the hostile page');
		assert.ok(log.console.some((t) => /frame-ancestors/.test(t)), `CSP violation reported: ${log.console.join(' | ')}`);
	} finally {
		await page.close();
	}
});

test('a page not in platform_origins that mounts the form honestly gets a clear error', { skip, timeout: 60000 }, async () => {
	// strongroom.js passes the page's true origin; the vault refuses to
	// serve the form for it, and the page is told why.
	const { page } = await openCheckout(ctx.evilOrigin, '/honest');
	try {
		await page.waitForFunction(() => window.__seen.errors.length > 0, null, { timeout: 10000 });
		const s = await seen(page);
		assert.equal(s.ready, false);
		assert.equal(s.errors[0].code, 'form_unavailable');
		assert.match(s.errors[0].message, /platform_origins/);
		assert.ok(s.errors[0].message.includes(ctx.evilOrigin), 'the message names the page origin to add');
		// And submit() resolves with that error instead of hanging.
		const r = await page.evaluate(() => window.__card.submit());
		assert.equal(r.token, undefined);
		assert.deepEqual(s.messages, []);
	} finally {
		await page.close();
	}
});

test('a listed page claiming another listed origin gets a disabled form and no messages', { skip, timeout: 60000 }, async () => {
	// frame-ancestors lets any listed origin frame the form; the frame
	// itself checks that its real parent is the origin it reports to.
	const { page } = await openCheckout(ctx.otherOrigin);
	try {
		const frame = page.frameLocator('iframe');
		await frame.locator('#sr-form-error').getByText('embedded by an unexpected page').waitFor({ timeout: 10000 });
		assert.equal(await frame.getByLabel('Card number').isDisabled(), true);
		await page.waitForTimeout(300);
		assert.deepEqual((await seen(page)).messages, [], 'nothing was posted to the page');
	} finally {
		await page.close();
	}
});
