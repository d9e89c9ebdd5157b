// SPDX-License-Identifier: Apache-2.0
//
// The command line as an operator meets it: usage for every subcommand,
// the version, what `init` leaves on disk, and configuration mistakes that
// must stop a service with a message naming the file, line and key (or the
// environment variable) at fault.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { runBin, createInstance, applyConfigOverrides, freePort, exists } from './lib/harness.mjs';

const SUBCOMMANDS = ['init', 'platform', 'vault', 'migrate', 'audit', 'version', 'help'];

describe('usage', () => {
	test('strongroom --help lists every subcommand and exits 0', async () => {
		const r = await runBin(['--help']);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /usage/i);
		for (const s of SUBCOMMANDS) assert.match(r.stdout, new RegExp(`\\b${s}\\b`), `--help does not list ${s}`);
	});

	for (const s of SUBCOMMANDS) {
		test(`strongroom ${s} --help prints usage and exits 0`, async () => {
			const r = await runBin([s, '--help']);
			assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
			assert.match(r.stdout, /usage/i);
			assert.match(r.stdout, new RegExp(`strongroom ${s}|${s}`));
		});
	}

	test('strongroom version prints a version', async () => {
		const r = await runBin(['version']);
		assert.equal(r.code, 0);
		assert.match(r.stdout, /^strongroom \d+\.\d+\.\d+\S*\n$/);
	});

	test('no command, or an unknown one, is a usage error (exit 2)', async () => {
		assert.equal((await runBin([])).code, 2);
		const r = await runBin(['frobnicate']);
		assert.equal(r.code, 2);
		assert.match(r.stderr, /frobnicate/);
	});

	for (const s of ['platform', 'vault']) {
		test(`strongroom ${s} with an unknown option is a usage error`, async () => {
			const r = await runBin([s, '--no-such-option']);
			assert.equal(r.code, 2, r.stderr);
			assert.match(r.stderr, /no-such-option/);
		});
	}
});

describe('strongroom init', () => {
	let inst;
	before(async () => {
		inst = await createInstance();
	});
	after(async () => inst && (await inst.dispose()));

	test('writes the instance layout with private files private', async () => {
		for (const f of ['strongroom.conf', 'tls/ca.crt', 'tls/ca.key', 'tls/platform.crt', 'tls/platform.key', 'tls/vault.crt', 'tls/vault.key', 'credentials.json'])
			assert.ok(await exists(path.join(inst.dir, f)), `init did not write ${f}`);
		for (const f of ['tls/ca.key', 'tls/platform.key', 'tls/vault.key', 'credentials.json']) {
			const mode = (await stat(path.join(inst.dir, f))).mode & 0o777;
			assert.equal(mode & 0o077, 0, `${f} is readable by others (mode ${mode.toString(8)})`);
		}
	});

	test('credentials.json holds the three keys with their prefixes', () => {
		assert.match(inst.credentials.vault_publishable_key, /^pk_\S{16,}$/);
		assert.match(inst.credentials.vault_secret_key, /^sk_\S{16,}$/);
		assert.match(inst.credentials.platform_secret_key, /^sk_\S{16,}$/);
		assert.notEqual(inst.credentials.vault_secret_key, inst.credentials.platform_secret_key);
	});

	test('service certificates are ECDSA P-256 for localhost, 127.0.0.1 and ::1, issued by the CA', async () => {
		const ca = new X509Certificate(inst.caCert);
		for (const svc of ['platform', 'vault']) {
			const cert = new X509Certificate(await readFile(path.join(inst.dir, `tls/${svc}.crt`)));
			assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
			assert.equal(cert.publicKey.asymmetricKeyDetails.namedCurve, 'prime256v1');
			assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `${svc}.crt not issued by ca.crt`);
			assert.match(cert.subjectAltName, /DNS:localhost/);
			assert.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/);
			assert.match(cert.subjectAltName, /IP Address:(::1|0:0:0:0:0:0:0:1)/i);
		}
	});

	test('refuses to overwrite an instance without --force', async () => {
		const creds = await readFile(path.join(inst.dir, 'credentials.json'), 'utf8');
		const r = await runBin(['init', '--dir', inst.dir]);
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /--force/);
		assert.equal(await readFile(path.join(inst.dir, 'credentials.json'), 'utf8'), creds);
	});
});

describe('configuration errors stop a service with a precise message', () => {
	let inst;
	let original;
	before(async () => {
		inst = await createInstance();
		original = await readFile(inst.configPath, 'utf8');
	});
	after(async () => inst && (await inst.dispose()));

	async function startWith(svc, configText, env = {}) {
		await writeFile(inst.configPath, configText);
		const port = await freePort();
		const r = await runBin([svc, '--config', inst.configPath, '--listen', `127.0.0.1:${port}`], { env: { ...inst.dbEnv, ...env }, timeout: 15000 });
		assert.equal(r.timedOut, false, `${svc} kept running with a bad configuration:\n${r.stderr}`);
		assert.notEqual(r.code, 0, `${svc} exited 0 with a bad configuration`);
		assert.ok(!/"msg":"listening"/.test(r.stderr), 'service started listening despite the error');
		return r;
	}

	const lineOf = (text, needle) => text.split('\n').findIndex((l) => l.startsWith(needle)) + 1;

	for (const svc of ['platform', 'vault']) {
		test(`${svc}: an unknown key names file:line and the key`, async () => {
			const text = `${original}\n[server]\nbogus_key = 1\n`;
			const r = await startWith(svc, text);
			assert.ok(r.stderr.includes(`strongroom.conf:${lineOf(text, 'bogus_key')}`), r.stderr);
			assert.match(r.stderr, /bogus_key/);
		});
	}

	test('an unknown section names file:line and the section', async () => {
		const text = `${original}\n[nosuchsection]\nkey = 1\n`;
		const r = await startWith('platform', text);
		assert.ok(r.stderr.includes(`strongroom.conf:${lineOf(text, 'key = 1')}`), r.stderr);
		assert.match(r.stderr, /nosuchsection/);
	});

	test('a value out of range names file:line and the key', async () => {
		const text = applyConfigOverrides(original, { limits: { body_max: '99999999999' } });
		const r = await startWith('platform', text);
		assert.ok(r.stderr.includes(`strongroom.conf:${lineOf(text, 'body_max = 99999999999')}`), r.stderr);
		assert.match(r.stderr, /body_max/);
	});

	for (const svc of ['platform', 'vault']) {
		test(`${svc}: a bad environment override names the variable`, async () => {
			const r = await startWith(svc, original, { STRONGROOM_LIMITS_BODY_MAX: 'lots' });
			assert.match(r.stderr, /STRONGROOM_LIMITS_BODY_MAX/);
		});
	}

	test('a missing config file names the path', async () => {
		const missing = path.join(os.tmpdir(), `sr-e2e-missing-${process.pid}.conf`);
		const port = await freePort();
		const r = await runBin(['platform', '--config', missing, '--listen', `127.0.0.1:${port}`], { timeout: 15000 });
		assert.notEqual(r.code, 0);
		assert.ok(r.stderr.includes(missing), r.stderr);
	});

	test('a bad --listen address is refused', async () => {
		await writeFile(inst.configPath, original);
		const r = await runBin(['platform', '--config', inst.configPath, '--listen', 'not-an-address'], { timeout: 15000 });
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /not-an-address/);
	});
});
