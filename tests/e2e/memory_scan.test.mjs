// SPDX-License-Identifier: Apache-2.0
//
// Memory scan: secrets that arrive in request bodies (passwords, right and
// wrong; unseal key shares) or leave in responses (a TOTP secret at
// enrolment, recovery codes) must not linger in a service's memory once the
// request is over. An attacker who later reads the process (a core dump
// sent to a crash reporter, a swapped-out page, a memory-disclosure bug, a
// debugger attached by someone with too much access) must not find them.
//
// How: a real instance on loopback gets the requests, the test waits until
// they are answered, then dumps the live process with `gcore` (gdb) and
// searches the whole core for each secret as bytes, in the spellings it had
// on the wire and after parsing:
//   - the UTF-8 text itself,
//   - its JSON-escaped form (\" \\ as the client sent it),
//   - the \u-escaped form of a body sent with every non-ASCII character as
//     \uXXXX (jansson decodes it, so the wire and parsed forms differ),
//   - each random half on its own, so a fragment (a buffer overwritten
//     half-way, a chunk boundary) is found too.
// Findings name the secret and where, never the secret itself.
//
// What it does not cover: secrets the service must keep while it runs (the
// sealed TOTP secret in the database, an unseal share before the threshold
// is reached; both live in sodium_malloc memory), and the services' own key
// material (keys/*, held on purpose).
//
// The scan needs ptrace (gdb attaches to the process). Where gdb may not
// attach but this test process, the service's parent, may read its memory
// (Yama ptrace_scope 1), or gdb is missing, it reads /proc/PID/mem itself:
// the mappings a kernel core dump holds. When the kernel refuses both
// (Yama ptrace_scope 3, or 2 without CAP_SYS_PTRACE, a container without
// the capability), the tests skip saying why; they never pass without
// having scanned. Under AddressSanitizer (make test-asan) the same
// assertions hold: freed blocks sit in ASan's quarantine with their old
// contents, which the binary's ASan defaults (free_fill_byte=0, src/main.c)
// zero; gcore is too slow there (see readLiveMemory).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, readdir, access, open } from 'node:fs/promises';
import path from 'node:path';
import {
	startInstance, createInstance, spawnService, freePort, request, requestJson, runBin, run, sleep, errorObject,
	keepAliveAgent,
} from './lib/harness.mjs';
import { freshEmail, postJson, login, authed } from './lib/accounts.mjs';
import { totp, midStep } from './lib/totp.mjs';

// ---------------------------------------------------------------- the scanner

const ALNUM = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
/** n random characters from ALNUM (distinctive: never found by chance). */
function randomText(n) {
	const b = randomBytes(n);
	let s = '';
	for (const x of b) s += ALNUM[x % ALNUM.length];
	return s;
}

/**
 * A password with two random halves around characters JSON must escape
 * and a non-ASCII one, so its wire and parsed spellings differ.
 */
function distinctivePassword(tag) {
	const a = randomText(28);
	const b = randomText(28);
	return { tag, value: `${a} "q\\ é ${b}`, halves: [a, b] };
}

/** JSON text of obj with every non-ASCII character written as \uXXXX. */
function asciiJson(obj) {
	return JSON.stringify(obj).replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Every spelling of a secret the scan looks for: [{what, bytes}]. */
function needlesFor({ tag, value, halves = [] }) {
	const json = JSON.stringify(value).slice(1, -1);
	const ascii = asciiJson(value).slice(1, -1);
	const forms = [
		{ what: `${tag} (text)`, text: value },
		{ what: `${tag} (JSON-escaped)`, text: json },
		{ what: `${tag} (\\u-escaped)`, text: ascii },
		...halves.map((h, i) => ({ what: `${tag} (random half ${i + 1})`, text: h })),
	];
	const seen = new Set();
	return forms.filter((f) => !seen.has(f.text) && seen.add(f.text)).map((f) => ({ what: f.what, bytes: Buffer.from(f.text, 'utf8') }));
}

/** Finds needles in buf; returns "what at offset 0x..." lines (never the secret). */
function scan(buf, needles, { context = Boolean(process.env.SR_MEMSCAN_CONTEXT) } = {}) {
	const found = [];
	for (const n of needles) {
		let at = buf.indexOf(n.bytes);
		let count = 0;
		const first = at;
		while (at !== -1) {
			count++;
			at = buf.indexOf(n.bytes, at + 1);
		}
		if (count === 0) continue;
		let line = `${n.what}: ${count} cop${count === 1 ? 'y' : 'ies'}, first at core offset 0x${first.toString(16)}`;
		// SR_MEMSCAN_CONTEXT=1: the bytes around the first copy (the secret
		// itself masked), to see which buffer still holds it.
		if (context) {
			const show = (b) => b.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
			line += `\n    ${show(buf.subarray(Math.max(0, first - 160), first))}«SECRET»${show(buf.subarray(first + n.bytes.length, first + n.bytes.length + 160))}`;
		}
		found.push(line);
	}
	return found;
}

// ---------------------------------------------------------------- core dumps

/** Why ptrace (and so gcore) cannot work here, or null when it may. */
async function ptraceBlocked() {
	let scope = null;
	try {
		scope = Number((await readFile('/proc/sys/kernel/yama/ptrace_scope', 'utf8')).trim());
	} catch {
		/* no Yama: classic ptrace rules (same uid may attach) */
	}
	if (scope === 3) return 'kernel.yama.ptrace_scope = 3 forbids ptrace for everyone';
	return null;
}

async function haveGcore() {
	try {
		await access('/usr/bin/gcore');
		return true;
	} catch {
		return false;
	}
}

/**
 * Dumps the live process pid with gcore into dir and returns the core's
 * bytes (the file is removed). Throws with gcore's output when it fails for
 * another reason than ptrace being refused; returns {blocked} when it was.
 */
async function dumpCore(pid, dir) {
	const prefix = path.join(dir, 'memscan');
	const r = await run('gcore', ['-o', prefix, String(pid)], { timeout: 120000 });
	const file = `${prefix}.${pid}`;
	try {
		if (r.code !== 0) {
			const out = r.stdout + r.stderr;
			if (/ptrace: Operation not permitted|Could not attach to process|not permitted/i.test(out))
				return { blocked: `gcore could not attach (ptrace refused): ${out.trim().split('\n').slice(-2).join(' ')}` };
			throw new Error(`gcore -o ${prefix} ${pid} exited ${r.code}: ${out}`);
		}
		return { core: await readFile(file) };
	} finally {
		await rm(file, { force: true });
	}
}

/**
 * The memory a kernel core dump of pid would hold, read through
 * /proc/PID/mem: every readable mapping except those marked "don't dump"
 * (VmFlags dd). Used for AddressSanitizer builds, where gcore walks ASan's
 * 15 TB shadow mapping (marked dd, which gdb does not skip) and runs for
 * hours; the mappings read here are the same ones gcore would have dumped
 * otherwise, heap and ASan's allocator regions included. Same ptrace rule
 * as gcore (PTRACE_MODE_ATTACH): returns {blocked} when refused.
 */
async function readLiveMemory(pid) {
	const smaps = await readFile(`/proc/${pid}/smaps`, 'utf8');
	const regions = [];
	let cur = null;
	for (const line of smaps.split('\n')) {
		const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
		if (m) {
			// User-space addresses (< 2^47) are exact as Numbers; Node's
			// bigint file positions do not reach /proc/PID/mem correctly.
			cur = { start: parseInt(m[1], 16), end: parseInt(m[2], 16), perms: m[3] };
			regions.push(cur);
		} else if (line.startsWith('VmFlags:') && cur) {
			cur.dontDump = / dd\b/.test(line);
		}
	}
	let fh;
	try {
		fh = await open(`/proc/${pid}/mem`, 'r');
	} catch (e) {
		if (e.code === 'EACCES' || e.code === 'EPERM') return { blocked: `cannot open /proc/${pid}/mem (ptrace refused): ${e.code}` };
		throw e;
	}
	const parts = [];
	try {
		for (const r of regions) {
			if (!r.perms.startsWith('r') || r.dontDump) continue;
			const len = r.end - r.start;
			const buf = Buffer.alloc(len);
			try {
				const { bytesRead } = await fh.read(buf, 0, len, r.start);
				parts.push(buf.subarray(0, bytesRead));
			} catch (e) {
				if (e.code !== 'EIO') throw e; // [vvar] and the like
			}
		}
	} finally {
		await fh.close();
	}
	return { core: Buffer.concat(parts) };
}

/** Whether pid runs with AddressSanitizer (libasan mapped). */
async function underAsan(pid) {
	return (await readFile(`/proc/${pid}/maps`, 'utf8')).includes('libasan');
}

/**
 * Waits until the requests are over (they are: each was answered; the
 * extra pause lets worker jobs return and connections close), dumps pid
 * and asserts that no needle is in it and that probe (text the process
 * certainly holds) is, so a clean result means the dump was read.
 */
async function assertNotInMemory(t, svc, dir, needles, probe) {
	await sleep(300);
	const pid = svc.proc.pid;
	let how;
	let d;
	if (await underAsan(pid)) {
		how = 'ASan build: /proc/PID/mem, the mappings a core dump holds';
		d = await readLiveMemory(pid);
	} else if (!(await haveGcore())) {
		how = '/proc/PID/mem: gcore is not installed (scripts/deps.sh test installs gdb)';
		d = await readLiveMemory(pid);
	} else {
		how = 'gcore';
		d = await dumpCore(pid, dir);
		if (d.blocked) {
			// Yama ptrace_scope 1 lets only ancestors attach: this test
			// process is the service's parent, gdb is not.
			const own = await readLiveMemory(pid);
			if (own.blocked) d.blocked += `; ${own.blocked}`;
			else [d, how] = [own, `/proc/PID/mem (${d.blocked})`];
		}
	}
	if (d.blocked) {
		t.skip(d.blocked);
		return;
	}
	assert.ok(d.core.length > 1 << 20, `core of ${svc.name} is ${d.core.length} bytes`);
	assert.ok(d.core.indexOf(Buffer.from(probe)) !== -1, `the core of ${svc.name} holds the probe text (it is a dump of that process)`);
	const found = scan(d.core, needles);
	t.diagnostic(`scanned ${(d.core.length / 1048576).toFixed(1)} MiB of ${svc.name} memory (${how}) for ${needles.length} spellings`);
	assert.deepEqual(found, [], `secrets still in ${svc.name} memory after their requests ended:\n${found.join('\n')}`);
}

// ---------------------------------------------------------------- tests

test('the scanner finds every spelling it looks for, and prints no secret', () => {
	const pw = distinctivePassword('password');
	const needles = needlesFor(pw);
	assert.ok(needles.length >= 5, 'text, JSON, \\u-escaped and both halves differ');
	const planted = Buffer.concat([
		randomBytes(100),
		Buffer.from(asciiJson({ password: pw.value })),
		randomBytes(100),
		Buffer.from(pw.halves[1]),
	]);
	const f = scan(planted, needles, { context: false });
	assert.ok(f.some((x) => x.startsWith('password (\\u-escaped)')), f.join('\n'));
	assert.ok(f.some((x) => x.startsWith('password (random half 2): 2 copies')), f.join('\n'));
	assert.ok(!f.join('\n').includes(pw.halves[0]) && !f.join('\n').includes(pw.halves[1]));
	assert.deepEqual(scan(randomBytes(4096), needles), []);
});

test('platform: passwords (sign-up, logins, wrong guesses), revoked session tokens, a TOTP secret and recovery codes are gone from memory after their requests', async (t) => {
	const blocked = await ptraceBlocked();
	if (blocked) {
		t.skip(blocked);
		return;
	}
	const inst = await startInstance({
		services: ['platform'],
		configOverrides: { notify: { poll_ms: 50 }, accounts: { delay_step_ms: 0 } },
	});
	const agents = [];
	try {
		const svc = inst.platform;
		const secrets = [];
		const pw = distinctivePassword('password');
		secrets.push(pw);
		const email = freshEmail('memscan');

		// Sign-up; the body written with \u escapes, as some clients do.
		const signup = await requestJson(svc, '/v1/users', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: asciiJson({ email, password: pw.value, name: 'Memory Scan' }),
		});
		assert.equal(signup.status, 201, JSON.stringify(signup.body));

		// Several logins, and wrong guesses (each its own distinctive text).
		// Each session is then revoked: its cookie and CSRF token (sent in
		// responses and request heads) are dead credentials by the scan.
		for (let i = 0; i < 3; i++) {
			const s = await login(svc, email, pw.value);
			assert.equal((await authed(svc, s, `/v1/sessions/${s.id}`, { method: 'DELETE' })).status, 200);
			secrets.push({ tag: `revoked session ${i + 1} cookie`, value: s.cookie.split('=')[1] });
			secrets.push({ tag: `revoked session ${i + 1} CSRF token`, value: s.csrf });
		}
		for (let i = 0; i < 3; i++) {
			const wrong = distinctivePassword(`wrong password ${i + 1}`);
			secrets.push(wrong);
			const r = await postJson(svc, '/v1/sessions', { email, password: wrong.value });
			assert.equal(r.status, 401, JSON.stringify(r.body));
			assert.equal(errorObject(r.body).code, 'invalid_credentials');
		}

		// The rest on one keep-alive connection that stays open (idle)
		// while the process is dumped: its read and write buffers, request
		// arena and TLS record buffers live on, so they must have been wiped
		// when each request ended, not merely when they are freed.
		const agent = keepAliveAgent(svc);
		agents.push(agent);
		const onConn = (p, { method = 'POST', body, headers = {} } = {}) => requestJson(svc, p, {
			method, agent,
			headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const wrong = distinctivePassword('wrong password on a kept-alive connection');
		secrets.push(wrong);
		assert.equal((await onConn('/v1/sessions', { body: { email, password: wrong.value } })).status, 401);
		const s = await login(svc, email, pw.value);
		const sh = { cookie: s.cookie, 'x-csrf-token': s.csrf };

		// TOTP enrolment answers the secret once; confirming it answers the
		// recovery codes once. Neither may stay behind in a buffer.
		const e = await onConn('/v1/mfa/totp', { headers: sh });
		assert.equal(e.status, 200, JSON.stringify(e.body));
		assert.match(e.body.secret, /^[A-Z2-7]{16,}$/);
		secrets.push({ tag: 'TOTP secret (base32)', value: e.body.secret });
		await midStep();
		const c = await onConn('/v1/mfa/totp/confirm', { headers: sh, body: { code: totp(e.body.secret) } });
		assert.equal(c.status, 200, JSON.stringify(c.body));
		assert.ok(Array.isArray(c.body.recovery_codes) && c.body.recovery_codes.length > 0);
		c.body.recovery_codes.forEach((code, i) => secrets.push({ tag: `recovery code ${i + 1}`, value: code }));
		const last = await request(svc, '/healthz', { agent });
		assert.equal(last.status, 200);
		assert.equal(last.reusedSocket, true, 'one connection carried the requests and is still open');

		// And a connection whose last request carried a password: its
		// bytes are the newest in every buffer of that connection.
		const idle = keepAliveAgent(svc);
		agents.push(idle);
		const lastWrong = distinctivePassword('wrong password, last on an idle connection');
		secrets.push(lastWrong);
		assert.equal((await request(svc, '/healthz', { agent: idle })).status, 200);
		const lw = await requestJson(svc, '/v1/sessions', {
			method: 'POST', agent: idle, headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ email, password: lastWrong.value }),
		});
		assert.equal(lw.status, 401);
		assert.equal(lw.reusedSocket, true);

		await assertNotInMemory(t, svc, inst.root, secrets.flatMap(needlesFor), inst.configPath);
	} catch (err) {
		inst.dumpLogs();
		throw err;
	} finally {
		for (const a of agents) a.destroy();
		await inst.stop();
	}
});

test('vault: unseal key shares posted to /v1/sys/unseal are gone from memory once the vault is unsealed', async (t) => {
	const blocked = await ptraceBlocked();
	if (blocked) {
		t.skip(blocked);
		return;
	}
	const inst = await createInstance();
	let vault;
	let agent;
	try {
		const out = path.join(inst.root, 'shares');
		const r = await runBin(['vault', 'init-shares', '--config', inst.configPath, '--shares', '5', '--threshold', '3', '--out-dir', out], { env: inst.dbEnv });
		assert.equal(r.code, 0, r.stderr + r.stdout);
		const shares = [];
		for (const f of (await readdir(out)).sort()) shares.push((await readFile(path.join(out, f), 'utf8')).trim());
		assert.equal(shares.length, 5);

		const port = await freePort();
		vault = spawnService('vault', {
			config: inst.configPath, port, ca: inst.caCert,
			env: { ...inst.dbEnv, STRONGROOM_VAULT_KEK_SOURCE: 'shares' },
		});
		await vault.waitForLog((l) => l.msg === 'listening');
		for (const deadline = Date.now() + 10000; ;) {
			const r = await request(vault, '/readyz');
			if (r.status === 503 && r.json().status === 'sealed') break;
			assert.ok(Date.now() < deadline, `the vault reports sealed: ${r.status} ${r.text}`);
			await sleep(50);
		}
		const post = (share, agent = false) => requestJson(vault, '/v1/sys/unseal', {
			method: 'POST', agent, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ share }),
		});
		// A mistyped share is refused; then three good ones unseal, the
		// last on a connection that stays open (idle) during the dump.
		const typo = shares[3].slice(0, 10) + (shares[3][10] === 'a' ? 'b' : 'a') + shares[3].slice(11);
		assert.equal((await post(typo)).status, 400);
		agent = keepAliveAgent(vault);
		for (const [i, sh] of shares.slice(0, 3).entries()) {
			const a = await post(sh, i === 2 ? agent : false);
			assert.equal(a.status, 200, JSON.stringify(a.body));
		}
		const deadline = Date.now() + 10000;
		while ((await request(vault, '/readyz')).status !== 200) {
			assert.ok(Date.now() < deadline, 'the vault unsealed');
			await sleep(50);
		}
		// Each share's random body (srs1-I-M-<body>-<check>) is the secret.
		const needles = [...shares.slice(0, 3), typo].flatMap((sh, i) =>
			needlesFor({ tag: i < 3 ? `unseal share ${i + 1}` : 'mistyped share', value: sh, halves: [sh.split('-')[3]] }));
		await assertNotInMemory(t, vault, inst.root, needles, inst.configPath);
	} catch (err) {
		if (vault) vault.dumpLogs();
		throw err;
	} finally {
		agent?.destroy();
		if (vault) await vault.stop();
		await inst.dispose();
	}
});
