// SPDX-License-Identifier: Apache-2.0
//
// What a browser client of the accounts API does, for the accounts_*
// tests: sign up, read the mail the platform sent (development maildir),
// log in keeping the session cookie and CSRF token, call with them.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { requestJson, sleep } from './harness.mjs';

export const GOOD_PASSWORD = 'correct horse battery staple 42';

/** A fresh address nobody used in this instance. */
export function freshEmail(tag = 'member') {
	return `${tag}.${randomBytes(5).toString('hex')}@example.test`;
}

export function postJson(svc, p, body, headers = {}) {
	return requestJson(svc, p, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body: typeof body === 'string' ? body : JSON.stringify(body),
	});
}

/** Decodes a quoted-printable body part. */
function unQP(s) {
	return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

/** Every message in the instance's development maildir: {file, to, subject, text}. */
export async function mailbox(inst) {
	const dir = path.join(inst.dir, 'mail', 'new');
	let files = [];
	try {
		files = await readdir(dir);
	} catch {
		return [];
	}
	const out = [];
	for (const f of files) {
		const raw = await readFile(path.join(dir, f), 'utf8');
		const to = /^To:\s*(.*)$/im.exec(raw)?.[1]?.trim() ?? '';
		const subject = /^Subject:\s*(.*)$/im.exec(raw)?.[1]?.trim() ?? '';
		out.push({ file: f, to, subject, text: unQP(raw) });
	}
	return out;
}

/** Waits for a message to `to` whose subject matches re; returns it. */
export async function waitMail(inst, to, re, { timeoutMs = 10000, after = new Set() } = {}) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const m = (await mailbox(inst)).find((x) => x.to.includes(to) && re.test(x.subject) && !after.has(x.file));
		if (m) return m;
		if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${re} within ${timeoutMs} ms`);
		await sleep(50);
	}
}

/** The files now in the maildir (to wait for a newer message later). */
export async function mailSeen(inst) {
	return new Set((await mailbox(inst)).map((m) => m.file));
}

/** The one-time code in a message ("ABCDE-FGHJK-MNPQR-STVWX"). */
export function codeIn(mail) {
	const m = /\b([0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5})\b/.exec(mail.text);
	assert.ok(m, `no code in mail: ${mail.text.slice(0, 400)}`);
	return m[1];
}

export async function signup(svc, { email = freshEmail(), password = GOOD_PASSWORD, name = 'Ada Lovelace' } = {}) {
	const r = await postJson(svc, '/v1/users', { email, password, name });
	assert.equal(r.status, 201, JSON.stringify(r.body));
	return { id: r.body.id, email, password, name };
}

/** Parses Set-Cookie lines into {name: {value, attrs: Set(lowercased), raw}}. */
export function cookies(headers) {
	const out = {};
	for (const line of headers['set-cookie'] ?? []) {
		const [pair, ...attrs] = line.split(';').map((s) => s.trim());
		const i = pair.indexOf('=');
		out[pair.slice(0, i)] = { value: pair.slice(i + 1), attrs: attrs.map((a) => a.toLowerCase()), raw: line };
	}
	return out;
}

/** Logs in; returns {cookie, csrf, id, body, headers, status} (asserts 201). */
export async function login(svc, email, password, extra = {}, headers = {}) {
	const r = await postJson(svc, '/v1/sessions', { email, password, ...extra }, headers);
	assert.equal(r.status, 201, JSON.stringify(r.body));
	const c = cookies(r.headers)['__Host-strongroom_session'];
	assert.ok(c, 'no session cookie');
	return { cookie: `__Host-strongroom_session=${c.value}`, csrf: r.body.csrf_token, id: r.body.id, body: r.body, headers: r.headers, status: r.status };
}

/** A request with the session (and the CSRF token unless csrf === false). */
export function authed(svc, s, p, { method = 'GET', body, csrf, headers = {} } = {}) {
	const h = { cookie: s.cookie, ...headers };
	const token = csrf === undefined ? s.csrf : csrf;
	if (token !== false && token !== null) h['x-csrf-token'] = token;
	if (body !== undefined) h['content-type'] = 'application/json';
	return requestJson(svc, p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
}
