// SPDX-License-Identifier: Apache-2.0
//
// What the notifications_* tests need around a platform: the real SMTP
// server of tests/tools (aiosmtpd) and its saved messages, a receiver for
// the marketplace's webhooks that checks signatures itself (node:crypto,
// independent of the C code), and a vault stand-in that signs webhooks with
// the instance's keys/vault-webhook.key exactly as docs/webhooks.md says.

import { spawn } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { SOURCE_DIR, request, sleep } from './harness.mjs';

/** Starts tests/tools/smtp_server.py; {port, out, messages(), stop()}. */
export async function startSmtp({ failFirst = 0 } = {}) {
	const out = await mkdtemp(path.join(os.tmpdir(), 'sr-smtp-'));
	const args = [path.join(SOURCE_DIR, 'tests/tools/smtp_server.py'), '--out', out];
	if (failFirst) args.push('--fail-first', String(failFirst));
	// Debian's python3 has python3-aiosmtpd (not a pyenv one that may come first).
	const proc = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
	const port = await new Promise((resolve, reject) => {
		let buf = '';
		proc.stdout.on('data', (d) => {
			buf += d;
			const m = /PORT (\d+)/.exec(buf);
			if (m) resolve(Number(m[1]));
		});
		proc.on('exit', (code) => reject(new Error(`smtp_server.py exited ${code}`)));
	});
	return {
		port,
		out,
		url: `smtp://127.0.0.1:${port}`,
		messages: () => savedMessages(out),
		async stop() {
			proc.kill('SIGTERM');
			await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
			await rm(out, { recursive: true, force: true });
		},
	};
}

function unQP(s) {
	return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

/** The messages the SMTP server accepted: [{file, messageId, to, subject, text, raw}]. */
export async function savedMessages(dir) {
	const files = (await readdir(dir)).filter((f) => f.endsWith('.eml'));
	const out = [];
	for (const f of files) {
		const raw = await readFile(path.join(dir, f), 'utf8');
		const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
		const h = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? '';
		out.push({ file: f, messageId: h('Message-ID'), to: h('To'), subject: h('Subject'), text: unQP(raw), raw });
	}
	return out;
}

/** Polls until pred(messages) is truthy; returns the messages. */
export async function waitMessages(smtp, pred, { timeoutMs = 15000, what = 'messages' } = {}) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const msgs = await smtp.messages();
		if (pred(msgs)) return msgs;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (have ${msgs.length})`);
		await sleep(100);
	}
}

/** Verifies a Strongroom-Signature header as a marketplace would (docs/webhooks.md). */
export function verifySignature(secret, header, rawBody, toleranceS = 300) {
	const items = (header ?? '').split(',').map((s) => s.trim().split('='));
	const t = items.find(([k]) => k === 't')?.[1];
	if (!/^\d+$/.test(t ?? '') || Math.abs(Date.now() / 1000 - Number(t)) > toleranceS) return false;
	const want = createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest();
	return items.some(([k, v]) => k === 'v1' && /^[0-9a-f]{64}$/.test(v) && timingSafeEqual(Buffer.from(v, 'hex'), want));
}

/** An HTTP receiver on 127.0.0.1 for the marketplace's webhooks:
 * {url, secret, events: [{headers, raw, json, signatureOk}], stop()};
 * set .secret once known (init writes it after the receiver must exist). */
export async function startReceiver(secret) {
	const events = [];
	const state = { secret };
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const raw = Buffer.concat(chunks);
			let json = null;
			try {
				json = JSON.parse(raw.toString('utf8'));
			} catch {}
			events.push({ headers: req.headers, raw, json, signatureOk: verifySignature(state.secret, req.headers['strongroom-signature'], raw) });
			res.writeHead(200, { 'content-type': 'application/json' });
			res.end('{"ok":true}');
		});
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	return Object.assign(state, {
		url: `http://127.0.0.1:${server.address().port}/marketplace/webhooks`,
		events,
		stop: () => new Promise((r) => server.close(r)),
	});
}

export async function readKey(inst, name) {
	return readFile(path.join(inst.dir, 'keys', name));
}

/** Signs body as the vault does: "t=<now>,v1=<hex HMAC(secret, t.body)>". */
export function sign(secret, body, t = Math.floor(Date.now() / 1000)) {
	return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export function eventId() {
	return `evt_${randomBytes(16).toString('hex')}`;
}

/** A vault event about a member, as the vault's webhook sends it. */
export function vaultEvent(type, member, { id = eventId(), objectId, amount = 12550, currency = 'eur', destination, created = 1764405600 } = {}) {
	const isPayout = type.startsWith('payout.');
	const object = {
		id: objectId ?? `${isPayout ? 'po' : 'ch'}_${randomBytes(12).toString('hex')}`,
		object: isPayout ? 'payout' : 'charge',
		amount,
		currency,
		created,
		metadata: { member },
	};
	if (isPayout) object.destination = destination ?? { type: 'card', brand: 'visa', last4: '4242' };
	return { id, object: 'event', type, created, data: { object } };
}

/** POSTs a signed vault webhook; returns {status, body}. */
export async function postVaultEvent(svc, secret, event, { signature, raw } = {}) {
	const body = raw ?? JSON.stringify(event);
	const headers = { 'content-type': 'application/json' };
	const sig = signature === undefined ? sign(secret, body) : signature;
	if (sig !== null) headers['strongroom-signature'] = sig;
	const r = await request(svc, '/v1/webhooks/vault', { method: 'POST', headers, body });
	let json = null;
	try {
		json = JSON.parse(r.text);
	} catch {}
	return { status: r.status, body: json, headers: r.headers };
}

/** Env for a platform delivering quickly to smtp (and the marketplace receiver). */
export function fastNotifyEnv(smtp, receiver) {
	const env = {
		STRONGROOM_EMAIL_SMTP_URL: smtp.url,
		STRONGROOM_NOTIFY_POLL_MS: '50',
		STRONGROOM_NOTIFY_RETRY_BASE_MS: '100',
		STRONGROOM_NOTIFY_RETRY_MAX_MS: '400',
		STRONGROOM_NOTIFY_LEASE_S: '2',
		STRONGROOM_NOTIFY_BATCH: '32',
		STRONGROOM_WEBHOOKS_POLL_MS: '50',
		STRONGROOM_WEBHOOKS_RETRY_BASE_MS: '100',
		STRONGROOM_WEBHOOKS_LEASE_S: '2',
	};
	if (receiver) env.STRONGROOM_PLATFORM_WEBHOOK_URL = receiver.url;
	return env;
}

/** Starts tests/tools/fake_twilio.py with a token file for [sms]:
 * {port, env (STRONGROOM_SMS_*), texts() -> [{to, from, body, user, password}], stop()}. */
export async function startTwilio() {
	const dir = await mkdtemp(path.join(os.tmpdir(), 'sr-twilio-'));
	const log = path.join(dir, 'requests.jsonl');
	const token = path.join(dir, 'auth-token');
	const { writeFile } = await import('node:fs/promises');
	await writeFile(token, `tok_${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
	await writeFile(log, '');
	const proc = spawn('/usr/bin/python3', [path.join(SOURCE_DIR, 'tests/tools/fake_twilio.py'), '--log', log], { stdio: ['ignore', 'pipe', 'inherit'] });
	const port = await new Promise((resolve, reject) => {
		let buf = '';
		proc.stdout.on('data', (d) => {
			buf += d;
			const m = /PORT (\d+)/.exec(buf);
			if (m) resolve(Number(m[1]));
		});
		proc.on('exit', (code) => reject(new Error(`fake_twilio.py exited ${code}`)));
	});
	const sid = 'ACtest0123456789';
	return {
		port,
		sid,
		env: {
			STRONGROOM_SMS_API_BASE: `http://127.0.0.1:${port}`,
			STRONGROOM_SMS_ACCOUNT_SID: sid,
			STRONGROOM_SMS_AUTH_TOKEN_FILE: token,
			STRONGROOM_SMS_FROM: '+15005550006',
		},
		async texts() {
			const lines = (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
			return lines.map((l) => ({ to: l.form.To, from: l.form.From, body: l.form.Body ?? '', user: l.user, path: l.path }));
		},
		async stop() {
			proc.kill('SIGTERM');
			await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
			await rm(dir, { recursive: true, force: true });
		},
	};
}

/** Polls the fake Twilio for a text to `to` whose body matches re. */
export async function waitText(twilio, to, re, { timeoutMs = 15000 } = {}) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const t = (await twilio.texts()).reverse().find((m) => m.to === to && re.test(m.body));
		if (t) return t;
		if (Date.now() > deadline) throw new Error(`no SMS to ${to} matching ${re}`);
		await sleep(100);
	}
}
