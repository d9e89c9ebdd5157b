// SPDX-License-Identifier: Apache-2.0
//
// KEK custody in production, as operators live it: `strongroom vault
// init-shares --shares 5 --threshold 3`, a vault started with
// [vault] kek_source = shares that comes up SEALED (health 200, /readyz 503
// "sealed", every vault route 503 vault_sealed), three operators each
// running `strongroom vault unseal` with their own share on stdin (progress
// printed after each), then a ready vault serving its JWKS. Also: a
// duplicate share, typos, junk, a share set of another vault (stays sealed,
// progress reset), a share of another split, the rate limit, a restart
// (sealed again), and an audit log that records every attempt but never a
// share. Runs on the backend chosen by SR_TEST_BACKEND.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import {
	createInstance, spawnService, freePort, request, requestJson, runBin, errorObject, auditEvents,
	sleep, waitReady, run, BIN, parseMetrics, metricSum,
} from './lib/harness.mjs';
import { cardFor, tokenize } from './lib/card.mjs';

const SHARE_RE = /^srs1-(\d+)-(\d+)-[a-z2-7]{52}-[a-z2-7]{8}$/;

/** Splits the instance's KEK with init-shares --out-dir; returns the share texts. */
async function initShares(inst, n, m, dirName) {
	const out = path.join(inst.root, dirName);
	const r = await runBin(['vault', 'init-shares', '--config', inst.configPath, '--shares', String(n),
		'--threshold', String(m), '--out-dir', out], { env: inst.dbEnv });
	assert.equal(r.code, 0, r.stderr + r.stdout);
	const shares = [];
	for (let k = 1; k <= n; k++) {
		const s = (await readFile(path.join(out, `share-${k}.txt`), 'utf8')).trim();
		assert.match(s, SHARE_RE);
		shares.push(s);
	}
	return shares;
}

/** Starts the vault with kek_source = shares; resolves once /readyz says "sealed". */
async function startSealed(inst, extraEnv = {}) {
	const port = await freePort();
	const vault = spawnService('vault', {
		config: inst.configPath, port, ca: inst.caCert,
		env: { ...inst.dbEnv, STRONGROOM_VAULT_KEK_SOURCE: 'shares', ...extraEnv },
	});
	await vault.waitForLog((l) => l.msg === 'listening');
	const deadline = Date.now() + 10000;
	for (;;) {
		const r = await request(vault, '/readyz');
		if (r.status === 503 && r.json().status === 'sealed') break;
		if (Date.now() > deadline) throw new Error(`vault never reported sealed: ${r.status} ${r.text}\n${vault.stderr}`);
		await sleep(50);
	}
	return vault;
}

/** One operator: `strongroom vault unseal` with the share on stdin. */
function unsealCli(inst, vault, share, extraArgs = []) {
	return runBin(['vault', 'unseal', '--config', inst.configPath, '--url', `https://127.0.0.1:${vault.port}`, ...extraArgs],
		{ input: `${share}\n` });
}

// An operator at a terminal: the CLI runs on a pseudo-terminal (Python's
// pty module; Node has none), the share is typed after the prompt appears,
// and the screen (everything the terminal showed) is returned.
const TTY_OPERATOR = `
import os, pty, select, sys, time
share = sys.stdin.readline().strip()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
screen = b''
status = None
def pump(stop, timeout):
    """Reads the terminal until stop() or the CLI exits, at most timeout s."""
    global screen, status
    end = time.time() + timeout
    while time.time() < end and not stop():
        r, _, _ = select.select([fd], [], [], 0.1)
        chunk = b''
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the CLI closed the terminal
                chunk = b''
            screen += chunk
        if chunk:
            continue
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
        if status is not None:
            return
pump(lambda: b'(input is hidden): ' in screen, 30)
os.write(fd, (share + '\\n').encode())
pump(lambda: False, 30)
if status is None:
    _, status = os.waitpid(pid, 0)
sys.stdout.write(screen.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;

function unsealTty(inst, vault, share) {
	return run('python3', ['-c', TTY_OPERATOR, BIN, 'vault', 'unseal', '--config', inst.configPath, '--url', `https://127.0.0.1:${vault.port}`],
		{ input: `${share}\n`, timeout: 90000 });
}

function postShare(vault, body) {
	return requestJson(vault, '/v1/sys/unseal', {
		method: 'POST', headers: { 'Content-Type': 'application/json' },
		body: typeof body === 'string' ? body : JSON.stringify(body),
	});
}

async function sealStatus(vault) {
	const r = await requestJson(vault, '/v1/sys/seal-status');
	assert.equal(r.status, 200);
	return r.body;
}

async function sealedGauge(vault) {
	const m = await request(vault, '/metrics');
	assert.equal(m.status, 200);
	return metricSum(parseMetrics(m.text), 'sr_vault_sealed');
}

async function assertSealed(vault) {
	assert.equal((await request(vault, '/healthz')).status, 200, 'health answers while sealed');
	assert.equal(await sealedGauge(vault), 1, 'metrics served while sealed: sr_vault_sealed 1');
	const ready = await requestJson(vault, '/readyz');
	assert.equal(ready.status, 503);
	assert.deepEqual(ready.body, { status: 'sealed' });
	for (const [method, p] of [['GET', '/v1/jwks.json'], ['GET', '/v1/audit_events?limit=1'], ['POST', '/v1/tokens']]) {
		const r = await requestJson(vault, p, { method, headers: { Authorization: 'Bearer pk_test_x', 'Content-Type': 'application/jose' }, body: method === 'POST' ? 'x.y.z' : undefined });
		assert.equal(r.status, 503, p);
		const e = errorObject(r.body);
		assert.equal(e.code, 'vault_sealed', p);
		assert.equal(e.type, 'api_error');
	}
}

/** Changes one base32 character in the middle of the share bytes: a typo. */
function typo(share) {
	const i = 20;
	const c = share[i] === 'a' ? 'b' : 'a';
	return share.slice(0, i) + c + share.slice(i + 1);
}

test('sealed start; three operators unseal one share each with the CLI; JWKS served; audited; sealed again after a restart', async () => {
	const inst = await createInstance();
	let vault;
	try {
		const shares = await initShares(inst, 5, 3, 'shares');
		vault = await startSealed(inst);
		await assertSealed(vault);
		assert.deepEqual(await sealStatus(vault), { object: 'seal_status', sealed: true, threshold: null, progress: 0 });

		// Operator 1.
		let r = await unsealCli(inst, vault, shares[0]);
		assert.equal(r.code, 0, r.stderr);
		assert.equal(r.stdout.trim(), '1 of 3 shares; 2 more needed');
		assert.ok(!r.stdout.includes(shares[0]) && !r.stderr.includes(shares[0]), 'the CLI never prints the share');

		// The same share again is refused, by the CLI and by the API; progress stays.
		r = await unsealCli(inst, vault, shares[0]);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /share_duplicate/);
		let api = await postShare(vault, { share: shares[0] });
		assert.equal(api.status, 400);
		assert.equal(errorObject(api.body).code, 'share_duplicate');
		assert.equal(api.body.error.param, 'share');

		// Bad input: 400 with a clear error, nothing changes.
		api = await postShare(vault, '{not json');
		assert.equal(api.status, 400);
		assert.equal(errorObject(api.body).code, 'invalid_json');
		api = await postShare(vault, {});
		assert.equal(errorObject(api.body).code, 'parameter_missing');
		assert.equal(api.body.error.param, 'share');
		api = await postShare(vault, { share: 'correct horse battery staple' });
		assert.equal(api.status, 400);
		assert.equal(errorObject(api.body).code, 'share_invalid');
		api = await postShare(vault, { share: shares[1], extra: 1 });
		assert.equal(errorObject(api.body).code, 'parameter_unknown');
		api = await postShare(vault, { share: typo(shares[1]) });
		assert.equal(api.status, 400);
		assert.equal(errorObject(api.body).code, 'share_mistyped');
		// The CLI catches a typo itself, before sending anything.
		r = await unsealCli(inst, vault, typo(shares[1]));
		assert.equal(r.code, 1);
		assert.match(r.stderr, /mistyped.*Nothing was sent/);
		// A share is never taken as an argument.
		r = await runBin(['vault', 'unseal', '--config', inst.configPath, shares[1]]);
		assert.equal(r.code, 2);
		assert.match(r.stderr, /never taken as an argument/);
		assert.ok(!r.stderr.includes(shares[1]));
		assert.deepEqual(await sealStatus(vault), { object: 'seal_status', sealed: true, threshold: 3, progress: 1 });
		await assertSealed(vault);

		// Operator 2 types the share at a terminal: prompted, not echoed.
		r = await unsealTty(inst, vault, shares[3]);
		assert.equal(r.code, 0, r.stderr + r.stdout);
		assert.match(r.stdout, /Enter your unseal share \(input is hidden\): \r?\n2 of 3 shares; 1 more needed/);
		assert.ok(!r.stdout.includes(shares[3]), 'the share is not echoed on the terminal');
		// Operator 3 (any three shares will do).
		r = await unsealCli(inst, vault, shares[4]);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /^unsealed/);

		assert.equal((await request(vault, '/readyz')).status, 200);
		assert.equal(await sealedGauge(vault), 0);
		const jwks = await requestJson(vault, '/v1/jwks.json');
		assert.equal(jwks.status, 200);
		assert.equal(jwks.body.keys.length, 1);
		assert.match(jwks.body.keys[0].kid, /^rk_/);
		assert.deepEqual(await sealStatus(vault), { object: 'seal_status', sealed: false, threshold: null, progress: 0 });
		// Card tokenization works: the keys it needs (fingerprint key) were
		// unsealed with the ring.
		const tok = await tokenize(vault, inst.credentials.vault_publishable_key, cardFor('4242424242424242'));
		assert.equal(tok.status, 201, tok.text);
		assert.match(tok.body.id, /^tok_/);
		const card = await requestJson(vault, '/v1/cards', {
			method: 'POST',
			headers: { Authorization: `Bearer ${inst.credentials.vault_secret_key}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'seal-test-card' },
			body: JSON.stringify({ token: tok.body.id }),
		});
		assert.equal(card.status, 201, JSON.stringify(card.body));
		assert.match(card.body.id, /^card_/);
		// A late share changes nothing.
		api = await postShare(vault, { share: shares[2] });
		assert.equal(api.status, 200);
		assert.equal(api.body.sealed, false);
		r = await unsealCli(inst, vault, shares[2]);
		assert.equal(r.code, 0, r.stderr);
		assert.equal(r.stdout.trim(), 'the vault is not sealed; no share is needed');

		// The audit log has every attempt, with share numbers, never a share.
		const events = await auditEvents(vault, inst.credentials.vault_secret_key);
		const seal = events.filter((e) => e.action.startsWith('vault.unseal'));
		const summary = seal.map((e) => `${e.action}:${e.outcome}:${e.details.reason ?? e.details.share_number}`);
		assert.deepEqual(summary, [
			'vault.unseal_share:success:1',
			'vault.unseal_share:failure:share_duplicate', // CLI
			'vault.unseal_share:failure:share_duplicate', // API
			'vault.unseal_share:failure:share_invalid',
			'vault.unseal_share:failure:share_mistyped',
			'vault.unseal_share:success:4',
			'vault.unseal:success:5',
		]);
		const done = seal[seal.length - 1];
		assert.equal(done.details.threshold, 3);
		assert.equal(done.details.active_kid, jwks.body.keys[0].kid);
		assert.equal(done.ip, '127.0.0.1');
		const all = JSON.stringify(events) + vault.stderr;
		for (const s of shares) {
			assert.ok(!all.includes(s), 'no share in the audit log or the logs');
			assert.ok(!all.includes(s.split('-')[3]), 'not even the share bytes');
		}
		assert.equal((await runBin(['audit', 'verify', '--config', inst.configPath, '--service', 'vault'], { env: inst.dbEnv })).code, 0);

		// A restart forgets the KEK: sealed again until unsealed again.
		await vault.stop();
		vault = await startSealed(inst);
		await assertSealed(vault);
		assert.deepEqual(await sealStatus(vault), { object: 'seal_status', sealed: true, threshold: null, progress: 0 });
		for (const k of [1, 2]) assert.equal((await unsealCli(inst, vault, shares[k])).code, 0);
		r = await unsealCli(inst, vault, shares[0]);
		assert.match(r.stdout, /^unsealed/, r.stderr);
		await waitReady(vault);
	} finally {
		if (vault) await vault.stop();
		await inst.dispose();
	}
});

test('a wrong share set leaves the vault sealed with progress reset; shares of another split; rate limit', async () => {
	const inst = await createInstance();
	const other = await createInstance();
	let vault;
	try {
		const shares = await initShares(inst, 5, 3, 'shares');
		const foreign = await initShares(other, 5, 3, 'shares'); // another vault's KEK
		const twoOfThree = await initShares(inst, 3, 2, 'shares-2of3'); // same KEK, other split
		vault = await startSealed(inst);

		// Three well-formed shares of ANOTHER vault: refused at the threshold.
		for (const s of foreign.slice(0, 2)) assert.equal((await unsealCli(inst, vault, s)).code, 0);
		let r = await unsealCli(inst, vault, foreign[2]);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /unseal_failed/);
		assert.deepEqual(await sealStatus(vault), { object: 'seal_status', sealed: true, threshold: null, progress: 0 });
		await assertSealed(vault);

		// Mixed: two of ours and one foreign share combine to a wrong KEK too.
		for (const s of [shares[0], shares[1]]) assert.equal((await unsealCli(inst, vault, s)).code, 0);
		let api = await postShare(vault, { share: foreign[4] });
		assert.equal(api.status, 400);
		assert.equal(errorObject(api.body).code, 'unseal_failed');
		assert.equal((await sealStatus(vault)).progress, 0);

		// A share of a split with another threshold does not mix in.
		assert.equal((await unsealCli(inst, vault, shares[2])).code, 0);
		api = await postShare(vault, { share: twoOfThree[0] });
		assert.equal(api.status, 400);
		assert.equal(errorObject(api.body).code, 'share_mismatch');
		assert.equal((await sealStatus(vault)).progress, 1);
		await postShare(vault, { share: shares[3] });
		r = await unsealCli(inst, vault, shares[4]);
		assert.match(r.stdout, /^unsealed/, r.stderr);

		const events = await auditEvents(vault, inst.credentials.vault_secret_key);
		const failures = events.filter((e) => e.action === 'vault.unseal' && e.outcome === 'failure');
		assert.equal(failures.length, 2);
		for (const f of failures) assert.equal(f.details.reason, 'wrong_shares');
		await vault.stop();

		// Unseal attempts are rate-limited per client address.
		vault = await startSealed(inst, { STRONGROOM_VAULT_UNSEAL_ATTEMPTS_PER_MINUTE: '3' });
		for (let i = 0; i < 3; i++) assert.equal((await postShare(vault, { share: 'nope' })).status, 400);
		api = await postShare(vault, { share: shares[0] });
		assert.equal(api.status, 429);
		assert.equal(errorObject(api.body).code, 'too_many_unseal_attempts');
		assert.ok(Number(api.headers['retry-after']) >= 1);
		assert.equal((await sealStatus(vault)).progress, 0, 'a limited request is not counted');
	} finally {
		if (vault) await vault.stop();
		await inst.dispose();
		await other.dispose();
	}
});

test('no KEK file on the host: rotate-keys and a new split take the KEK from the operators\' shares', async () => {
	const inst = await createInstance();
	const other = await createInstance();
	let vault;
	const fromShares = (cmd, shares, extra = []) =>
		runBin(['vault', cmd, '--config', inst.configPath, '--kek-from-shares', ...extra],
			{ env: inst.dbEnv, input: shares.map((s) => `${s}\n`).join('') });
	const noShareIn = (r, shares) => {
		for (const s of shares) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), 'a share was printed');
	};
	const rotations = async () => (await runBin(['audit', 'tail', '--config', inst.configPath, '--service', 'vault', '-n', '1000', '--json'], { env: inst.dbEnv }))
		.stdout.split('\n').filter((l) => l.includes('"keys.rotate"') && l.includes('"success"')).length;
	try {
		const shares = await initShares(inst, 5, 3, 'shares');
		const foreign = await initShares(other, 5, 3, 'shares');
		// Custody: the KEK file leaves the host once the shares are out.
		const kekFile = path.join(inst.dir, 'keys/vault-kek.key');
		await rename(kekFile, path.join(inst.root, 'kek-in-the-safe.key'));
		const rotated = await rotations();

		// Refusals, each before anything changes.
		let r = await fromShares('rotate-keys', [shares[0], typo(shares[1]), shares[2]]);
		assert.equal(r.code, 1, r.stderr);
		assert.match(r.stderr, /mistyped/);
		r = await fromShares('rotate-keys', [shares[0], shares[0], shares[2]]);
		assert.match(r.stderr, /already given/);
		r = await fromShares('rotate-keys', [shares[0], shares[1]]);
		assert.match(r.stderr, /ended before the threshold/);
		r = await fromShares('rotate-keys', foreign.slice(0, 3));
		assert.equal(r.code, 1);
		assert.match(r.stderr, /do not recover this vault's KEK/);
		r = await fromShares('rotate-keys', ['correct horse battery staple']);
		assert.match(r.stderr, /not a KEK share/);
		noShareIn(r, shares);
		assert.equal(await rotations(), rotated, 'no refused attempt rotated anything');

		// Three operators' shares: the keys rotate without the file.
		r = await fromShares('rotate-keys', [shares[0], shares[2], shares[4]]);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stderr, /share 3 of 3 accepted/);
		const kid = /new RSA kid (\S+) published/.exec(r.stdout)?.[1];
		assert.ok(kid, r.stdout);
		noShareIn(r, shares);
		assert.equal(await rotations(), rotated + 1);

		// A new split (2 of 3) from the current shares, e.g. to replace an operator.
		const out = path.join(inst.root, 'new-shares');
		r = await fromShares('init-shares', [shares[1], shares[3], shares[4]], ['--shares', '3', '--threshold', '2', '--out-dir', out]);
		assert.equal(r.code, 0, r.stderr);
		noShareIn(r, shares);
		const fresh = [];
		for (let k = 1; k <= 3; k++) fresh.push((await readFile(path.join(out, `share-${k}.txt`), 'utf8')).trim());
		for (const s of fresh) assert.match(s, /^srs1-2-\d+-/);

		// The new shares unseal the vault, which publishes the rotated kid first.
		vault = await startSealed(inst);
		assert.equal((await unsealCli(inst, vault, fresh[2])).code, 0);
		r = await unsealCli(inst, vault, fresh[0]);
		assert.equal(r.code, 0, r.stderr);
		await waitReady(vault);
		const jwks = await requestJson(vault, '/v1/jwks.json');
		assert.equal(jwks.status, 200);
		assert.equal(jwks.body.keys[0].kid, kid);
		assert.ok(jwks.body.keys.length >= 2, 'the previous kid stays listed for its grace period');
		const audit = await auditEvents(vault, inst.credentials.vault_secret_key);
		const split = audit.filter((e) => e.action === 'keys.init_shares');
		assert.equal(split.at(-1).details.kek_from, 'shares');
		assert.ok(!JSON.stringify(audit).includes(shares[0].slice(10, 40)), 'no share in the audit log');
	} finally {
		if (vault) await vault.stop();
		await inst.dispose();
		await other.dispose();
	}
});
