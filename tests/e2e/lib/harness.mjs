// SPDX-License-Identifier: Apache-2.0
//
// Black-box test harness: starts the real strongroom binary on loopback in a
// temporary instance folder and talks to it the way a client would, over real
// TLS that trusts only the instance's own CA. Every later issue's tests build
// on this file, so it knows nothing about particular features: it starts and
// stops services, speaks HTTP(S) at the byte level, and keeps the services'
// JSON log lines so tests can assert on them (and read them when a test fails).
//
// Environment:
//   STRONGROOM_BIN   path to the binary (default: <repo>/build/strongroom)
//   SR_TEST_BACKEND  sqlite (default) | postgres
//   SR_TEST_PG_URL   postgres server URL whose role may CREATE DATABASE
//                    (required when SR_TEST_BACKEND=postgres)

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, readFile, writeFile, mkdir, access } from 'node:fs/promises';
import { afterEach, after, before, beforeEach } from 'node:test';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.SR_SOURCE_DIR || path.resolve(here, '../../..');
export const BIN = path.resolve(process.env.STRONGROOM_BIN || path.join(SOURCE_DIR, 'build/strongroom'));
export const BACKEND = process.env.SR_TEST_BACKEND || 'sqlite';
export const SERVICES = ['platform', 'vault'];

const READY_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 15000;

if (!['sqlite', 'postgres'].includes(BACKEND))
	throw new Error(`SR_TEST_BACKEND must be sqlite or postgres, not '${BACKEND}'`);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Children we started; killed synchronously if the test process exits
// without having stopped them (an assertion threw before after() ran, or the
// runner was interrupted), so no strongroom outlives its test file.
const live = new Set();
process.on('exit', () => {
	for (const p of live) {
		try {
			p.kill('SIGKILL');
		} catch {
			/* already gone */
		}
	}
});

// ---------------------------------------------------------------- processes

// The environment a child gets: ours minus any STRONGROOM_* a developer's
// shell may carry (it would silently change what the test exercises).
function childEnv(extra = {}) {
	const env = {};
	for (const [k, v] of Object.entries(process.env))
		if (!k.startsWith('STRONGROOM_')) env[k] = v;
	for (const [k, v] of Object.entries(extra))
		if (v === undefined || v === null) delete env[k];
		else env[k] = String(v);
	return env;
}

/** Runs a command to completion: {code, signal, stdout, stderr}. Never throws on exit status. */
export function run(cmd, args, { env, input, timeout = 30000, cwd } = {}) {
	return new Promise((resolve, reject) => {
		const child = execFile(
			cmd,
			args,
			{ env: childEnv(env), timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20, cwd },
			(err, stdout, stderr) => {
				if (err && typeof err.code !== 'number' && !err.signal && !err.killed) return reject(err);
				resolve({
					code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
					signal: err ? err.signal : null,
					timedOut: Boolean(err && err.killed),
					stdout,
					stderr,
				});
			},
		);
		if (input !== undefined) child.stdin.end(input);
		else child.stdin.end();
	});
}

/** Runs the strongroom binary: {code, signal, stdout, stderr}. */
export function runBin(args, opts = {}) {
	return run(BIN, args, opts);
}

/** Runs the openssl CLI: {code, stdout, stderr}. */
export function openssl(args, opts = {}) {
	return run('openssl', args, opts);
}

/** A free loopback TCP port (bound to 127.0.0.1:0, read back, closed). */
export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

/**
 * A running (or exited) service process. Its stderr is parsed as JSON lines
 * into `logs` (a line that is not JSON is kept as {raw}); `stderr` keeps the
 * text as received.
 */
export class ServiceProcess {
	constructor(name, proc, { port, url, ca }) {
		this.name = name;
		this.proc = proc;
		this.port = port;
		this.url = url;
		this.ca = ca;
		this.logs = [];
		this.lines = []; // raw stderr lines, same indexes as logs
		this.stderr = '';
		this.stdout = '';
		this.exit = null; // {code, signal, at}
		this.waiters = new Set();
		let partial = '';
		proc.stderr.setEncoding('utf8');
		proc.stdout.setEncoding('utf8');
		proc.stdout.on('data', (d) => (this.stdout += d));
		proc.stderr.on('data', (d) => {
			this.stderr += d;
			partial += d;
			let nl;
			while ((nl = partial.indexOf('\n')) >= 0) {
				const line = partial.slice(0, nl);
				partial = partial.slice(nl + 1);
				if (line.trim() === '') continue;
				let entry;
				try {
					entry = JSON.parse(line);
					if (entry === null || typeof entry !== 'object') entry = { raw: line };
				} catch {
					entry = { raw: line };
				}
				this.logs.push(entry);
				this.lines.push(line);
				this.notify();
			}
		});
		this.exited = new Promise((resolve) => {
			proc.on('exit', (code, signal) => {
				live.delete(proc);
				this.exit = { code, signal, at: Date.now() };
				this.notify();
				resolve(this.exit);
			});
		});
		// stderr may still hold an unterminated last line after exit.
		proc.stderr.on('end', () => {
			if (partial.trim() !== '') {
				this.logs.push({ raw: partial });
				this.lines.push(partial);
				partial = '';
				this.notify();
			}
		});
	}

	notify() {
		for (const w of this.waiters) w();
	}

	get running() {
		return this.exit === null;
	}

	/**
	 * Resolves with the first log entry (index >= from) matching pred; rejects
	 * after timeoutMs, or when the process exits first.
	 */
	waitForLog(pred, { timeoutMs = 10000, from = 0 } = {}) {
		return new Promise((resolve, reject) => {
			let timer;
			const check = () => {
				for (let i = from; i < this.logs.length; i++) {
					if (pred(this.logs[i])) {
						done();
						return resolve(this.logs[i]);
					}
				}
				if (this.exit) {
					done();
					reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before the expected log line\n${this.stderr}`));
				}
			};
			const done = () => {
				clearTimeout(timer);
				this.waiters.delete(check);
			};
			timer = setTimeout(() => {
				done();
				reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms`));
			}, timeoutMs);
			this.waiters.add(check);
			check();
		});
	}

	/** Resolves with {code, signal} once the process exits; rejects after timeoutMs. */
	async waitExit(timeoutMs = 10000) {
		let timer;
		const timeout = new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)), timeoutMs);
		});
		try {
			return await Promise.race([this.exited, timeout]);
		} finally {
			clearTimeout(timer);
		}
	}

	kill(signal = 'SIGTERM') {
		if (this.running) this.proc.kill(signal);
	}

	/** SIGTERM, then SIGKILL if it is still running after timeoutMs. */
	async stop(timeoutMs = STOP_TIMEOUT_MS) {
		if (!this.running) return this.exit;
		this.proc.kill('SIGTERM');
		try {
			return await this.waitExit(timeoutMs);
		} catch {
			this.proc.kill('SIGKILL');
			return this.exited;
		}
	}

	/** The request log lines (those with a numeric status). */
	requestLogs() {
		return this.logs.filter((l) => typeof l.status === 'number');
	}

	/** Writes stderr lines from index `from` (at most the last `max`, each cut at 600 chars). */
	dumpLogs({ out = process.stderr, from = 0, max = 80 } = {}) {
		const lines = this.lines.slice(from);
		const tail = lines.slice(-max).map((l) => (l.length > 600 ? `${l.slice(0, 600)}...` : l));
		out.write(`----- ${this.name} stderr lines ${from}..${this.lines.length} (showing ${tail.length}); ` +
			`exit=${JSON.stringify(this.exit)} -----\n`);
		if (tail.length) out.write(tail.join('\n') + '\n');
	}
}

/**
 * Spawns `strongroom <svc> --config CONF --listen 127.0.0.1:PORT` and returns
 * its ServiceProcess at once (does not wait for it to listen).
 */
export function spawnService(svc, { config, port, env = {}, args, ca } = {}) {
	const argv = args ?? [svc, '--config', config, '--listen', `127.0.0.1:${port}`];
	const proc = spawn(BIN, argv, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
	live.add(proc);
	proc.on('error', () => {}); // ENOENT etc. surface as exit/no logs
	return new ServiceProcess(svc, proc, { port, url: `https://localhost:${port}`, ca });
}

/**
 * Waits for the service's {"msg":"listening"} line, then for GET /readyz to
 * answer 200. Throws (with the service's stderr) on timeout or early exit.
 */
export async function waitReady(svc, timeoutMs = READY_TIMEOUT_MS) {
	const deadline = Date.now() + timeoutMs;
	await svc.waitForLog((l) => l.msg === 'listening', { timeoutMs });
	let last;
	while (Date.now() < deadline) {
		if (!svc.running) throw new Error(`${svc.name} exited while waiting for /readyz: ${svc.stderr}`);
		try {
			const r = await request(svc, '/readyz', { timeout: 2000 });
			if (r.status === 200) return;
			last = `status ${r.status}`;
		} catch (e) {
			last = e.message;
		}
		await sleep(100);
	}
	throw new Error(`${svc.name}: /readyz not 200 within ${timeoutMs} ms (last: ${last})\n${svc.stderr}`);
}

// ---------------------------------------------------------------- instances

/**
 * Applies {section: {key: value}} to an INI text: a live `key = ...` line in
 * that section is replaced (so nothing is "set twice"); otherwise the
 * setting goes where the template lists it as a comment ("; key = default"),
 * or into a new section block at the end.
 */
export function applyConfigOverrides(text, overrides = {}) {
	const lines = text.split('\n');
	for (const [section, kv] of Object.entries(overrides)) {
		for (const [key, value] of Object.entries(kv)) {
			let cur = null;
			let live = -1;
			let commented = -1;
			lines.forEach((line, i) => {
				const sec = /^\s*\[([^\]]+)\]\s*$/.exec(line);
				if (sec) {
					cur = sec[1].trim();
					return;
				}
				if (cur !== section) return;
				if (new RegExp(`^\\s*${key}\\s*=`).test(line)) live = i;
				else if (new RegExp(`^\\s*[;#]\\s*${key}\\s*=`).test(line)) commented = i;
			});
			const entry = `${key} = ${value}`;
			if (live >= 0) lines[live] = entry;
			else if (commented >= 0) lines[commented] = entry;
			else lines.push(`[${section}]`, entry);
		}
	}
	return lines.join('\n');
}

async function exists(p) {
	try {
		await access(p);
		return true;
	} catch {
		return false;
	}
}

/**
 * Issues an ECDSA P-256 server certificate for localhost / 127.0.0.1 / ::1
 * signed by caCert/caKey, written to outCert/outKey. Returns the serial
 * (upper-case hex, as Node's getPeerCertificate() reports it).
 */
export async function issueCert({ caCert, caKey, outCert, outKey, cn = 'localhost', days = 2, workDir }) {
	const serial = randomBytes(8).toString('hex').toUpperCase().replace(/^0+/, '') || '1';
	const tmp = await mkdtemp(path.join(workDir ?? os.tmpdir(), 'cert-'));
	try {
		const csr = path.join(tmp, 'leaf.csr');
		const ext = path.join(tmp, 'leaf.ext');
		await writeFile(
			ext,
			'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
				'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n',
		);
		let r = await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
			'-keyout', outKey, '-out', csr, '-subj', `/CN=${cn}`]);
		if (r.code !== 0) throw new Error(`openssl req: ${r.stderr}`);
		r = await openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', `0x${serial}`,
			'-days', String(days), '-sha256', '-extfile', ext, '-out', outCert]);
		if (r.code !== 0) throw new Error(`openssl x509: ${r.stderr}`);
	} finally {
		await rm(tmp, { recursive: true, force: true });
	}
	return serial;
}

// Stand-in for `strongroom init` while that command is not built: a CA and
// the two service certificates from the openssl CLI, a config naming them,
// and placeholder credentials. Used only when init says it is not built yet,
// and announced on stderr, so a broken init never hides behind it.
async function fallbackInit(dir) {
	process.stderr.write(`# harness: 'strongroom init' is not built yet; using the openssl fallback in ${dir}\n`);
	const t = path.join(dir, 'tls');
	await mkdir(t, { recursive: true, mode: 0o700 });
	let r = await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
		'-keyout', path.join(t, 'ca.key'), '-out', path.join(t, 'ca.crt'), '-days', '2', '-subj', '/CN=strongroom test CA',
		'-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
	if (r.code !== 0) throw new Error(`openssl CA: ${r.stderr}`);
	for (const svc of SERVICES)
		await issueCert({ caCert: path.join(t, 'ca.crt'), caKey: path.join(t, 'ca.key'),
			outCert: path.join(t, `${svc}.crt`), outKey: path.join(t, `${svc}.key`), workDir: dir });
	await writeFile(path.join(dir, 'strongroom.conf'),
		'[platform]\ntls_cert = tls/platform.crt\ntls_key = tls/platform.key\n\n' +
		'[vault]\ntls_cert = tls/vault.crt\ntls_key = tls/vault.key\n');
	await writeFile(path.join(dir, 'credentials.json'), JSON.stringify({
		vault_publishable_key: 'pk_fallback', vault_secret_key: 'sk_fallback', platform_secret_key: 'sk_fallback',
	}), { mode: 0o600 });
}

async function psql(url, sql) {
	const r = await run('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql]);
	if (r.code !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
	return r.stdout;
}

function dbUrl(serverUrl, name) {
	const u = new URL(serverUrl);
	u.pathname = `/${name}`;
	return u.toString();
}

/**
 * Creates an instance folder with `strongroom init --dir` (no service
 * started): {root, dir, configPath, caCert, credentials, dbEnv, dispose()}.
 * configOverrides: {section: {key: value}} written into strongroom.conf.
 */
export async function createInstance({ configOverrides = {}, initArgs = [] } = {}) {
	const root = await mkdtemp(path.join(os.tmpdir(), 'sr-e2e-'));
	const dir = path.join(root, 'inst');
	const inst = { root, dir, configPath: path.join(dir, 'strongroom.conf'), dbEnv: {}, databases: [] };
	inst.dispose = async () => {
		if (BACKEND === 'postgres') {
			for (const db of inst.databases.splice(0)) {
				try {
					await psql(process.env.SR_TEST_PG_URL, `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
				} catch (e) {
					process.stderr.write(`# harness: could not drop ${db}: ${e.message}\n`);
				}
			}
		}
		await rm(root, { recursive: true, force: true });
	};
	try {
		const r = await runBin(['init', '--dir', dir, ...initArgs]);
		if (r.code !== 0) {
			if (/not built yet/.test(r.stderr)) {
				await mkdir(dir, { recursive: true, mode: 0o700 });
				await fallbackInit(dir);
			} else {
				throw new Error(`strongroom init --dir ${dir} exited ${r.code}: ${r.stderr}${r.stdout}`);
			}
		}
		if (Object.keys(configOverrides).length > 0) {
			const text = await readFile(inst.configPath, 'utf8');
			await writeFile(inst.configPath, applyConfigOverrides(text, configOverrides));
		}
		inst.caCert = await readFile(path.join(dir, 'tls/ca.crt'), 'utf8');
		inst.credentials = JSON.parse(await readFile(path.join(dir, 'credentials.json'), 'utf8'));
		if (BACKEND === 'postgres') {
			const server = process.env.SR_TEST_PG_URL;
			if (!server) throw new Error('SR_TEST_BACKEND=postgres needs SR_TEST_PG_URL (eval "$(scripts/pg-test.sh start)")');
			for (const svc of SERVICES) {
				const name = `sr_e2e_${svc}_${randomBytes(6).toString('hex')}`;
				await psql(server, `CREATE DATABASE "${name}"`);
				inst.databases.push(name);
				inst.dbEnv[`STRONGROOM_${svc.toUpperCase()}_DATABASE_URL`] = dbUrl(server, name);
			}
		}
	} catch (e) {
		await inst.dispose();
		throw e;
	}
	return inst;
}

/**
 * Starts a whole instance:
 *   startInstance({services: ['platform','vault'], env, serviceEnv: {vault: {...}}, configOverrides})
 * Returns {dir, root, configPath, caCert, credentials, platform, vault,
 * services, stop(), kill(signal), startService(name), dumpLogs()}; each
 * started service is a ServiceProcess {url, port, proc, logs, ca, ...}.
 * On any failure everything started so far is stopped and removed.
 */
export async function startInstance({ services = SERVICES, env = {}, serviceEnv = {}, configOverrides = {} } = {}) {
	const inst = await createInstance({ configOverrides });
	inst.services = {};
	inst.env = env;
	inst.startService = async (name, { port, extraEnv = {} } = {}) => {
		const p = port ?? (await freePort());
		// The vault sends its signed webhooks to this instance's platform
		// (wherever the test started it); with no platform they stay queued.
		const wiring = {};
		if (name === 'vault')
			wiring.STRONGROOM_VAULT_WEBHOOK_URL = inst.services.platform
				? `https://localhost:${inst.services.platform.port}/v1/webhooks/vault`
				: '';
		const svc = spawnService(name, {
			config: inst.configPath,
			port: p,
			ca: inst.caCert,
			env: { ...inst.dbEnv, ...wiring, ...env, ...(serviceEnv[name] ?? {}), ...extraEnv },
		});
		inst.services[name] = svc;
		inst[name] = svc;
		await waitReady(svc);
		return svc;
	};
	let stopped = false;
	inst.stop = async () => {
		if (stopped) return;
		stopped = true;
		await Promise.all(Object.values(inst.services).map((s) => s.stop()));
		await inst.dispose();
	};
	inst.kill = (signal = 'SIGTERM') => {
		for (const s of Object.values(inst.services)) s.kill(signal);
	};
	// marks: {service: first line index to show}, from logMarks().
	inst.dumpLogs = (marks = {}) => {
		for (const [n, s] of Object.entries(inst.services)) s.dumpLogs({ from: marks[n] ?? 0 });
	};
	inst.logMarks = () => Object.fromEntries(Object.entries(inst.services).map(([n, s]) => [n, s.lines.length]));
	try {
		for (const name of services) await inst.startService(name);
	} catch (e) {
		inst.dumpLogs();
		await inst.stop();
		throw e;
	}
	return inst;
}

/**
 * Registers before/after hooks in the current describe() (or file) that
 * start an instance, print its logs after each failed test, and always stop
 * it. Returns a holder whose .inst is the running instance inside tests.
 */
export function useInstance(opts = {}) {
	const holder = { inst: null, marks: {} };
	before(async () => {
		holder.inst = await startInstance(opts);
	});
	beforeEach(() => {
		if (holder.inst) holder.marks = holder.inst.logMarks();
	});
	afterEach((t) => {
		if (t.passed === false && holder.inst) {
			process.stderr.write(`# test '${t.name}' failed; the services' log lines during it follow\n`);
			holder.inst.dumpLogs(holder.marks);
		}
	});
	after(async () => {
		if (holder.inst) await holder.inst.stop();
	});
	return holder;
}

/**
 * Runs fn(inst) against an instance of its own: started with opts, its logs
 * printed if fn throws, always stopped and removed.
 */
export async function withInstance(opts, fn) {
	const inst = await startInstance(opts);
	try {
		return await fn(inst);
	} catch (e) {
		inst.dumpLogs();
		throw e;
	} finally {
		await inst.stop();
	}
}

// ---------------------------------------------------------------- HTTPS client

/** TLS options that trust only the service's CA and check the name localhost. */
export function tlsOptionsFor(svc, extra = {}) {
	return { host: '127.0.0.1', port: svc.port, ca: svc.ca, servername: 'localhost', ...extra };
}

/** A keep-alive agent (one socket) trusting only the service's CA. */
export function keepAliveAgent(svc, extra = {}) {
	return new https.Agent({ keepAlive: true, maxSockets: 1, ca: svc.ca, servername: 'localhost', ...extra });
}

/**
 * One HTTPS request: {status, headers, body (Buffer), text, json(), reusedSocket}.
 * Each call opens a new connection unless an agent is given.
 */
export function request(svc, reqPath, { method = 'GET', headers = {}, body, agent = false, timeout = 10000, tlsExtra = {} } = {}) {
	return new Promise((resolve, reject) => {
		const req = https.request(
			{ ...tlsOptionsFor(svc, tlsExtra), path: reqPath, method, headers, agent, timeout },
			(res) => {
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('error', reject);
				res.on('end', () => {
					const buf = Buffer.concat(chunks);
					resolve({
						status: res.statusCode,
						headers: res.headers,
						rawHeaders: res.rawHeaders,
						body: buf,
						text: buf.toString('utf8'),
						json: () => JSON.parse(buf.toString('utf8')),
						reusedSocket: req.reusedSocket,
					});
				});
			},
		);
		req.on('timeout', () => req.destroy(new Error(`request ${method} ${reqPath} timed out after ${timeout} ms`)));
		req.on('error', reject);
		if (body !== undefined) req.write(body);
		req.end();
	});
}

/** Shorthand: request and parse JSON; {status, headers, body: parsed}. */
export async function requestJson(svc, reqPath, opts = {}) {
	const r = await request(svc, reqPath, opts);
	let parsed;
	try {
		parsed = JSON.parse(r.text);
	} catch {
		throw new Error(`${opts.method ?? 'GET'} ${reqPath}: status ${r.status}, body is not JSON: ${r.text.slice(0, 300)}`);
	}
	return { ...r, body: parsed };
}

// ---------------------------------------------------------------- raw sockets

/**
 * A client connection seen at the byte level: everything received, and how
 * and when it ended. Errors (resets, writes after close) are recorded, not
 * thrown.
 */
export class RawConn {
	constructor(socket) {
		this.socket = socket;
		this.chunks = [];
		this.events = [];
		this.openedAt = Date.now();
		this.endReceived = false; // the peer closed its side (FIN / close_notify)
		this.error = null;
		this.closeInfo = null;
		this.waiters = new Set();
		socket.on('data', (d) => {
			this.chunks.push(d);
			this.events.push({ type: 'data', at: Date.now(), length: d.length });
			this.notify();
		});
		socket.on('end', () => {
			this.endReceived = true;
			this.events.push({ type: 'end', at: Date.now() });
			this.notify();
		});
		socket.on('error', (e) => {
			if (!this.error) this.error = e;
			this.events.push({ type: 'error', at: Date.now(), code: e.code, message: e.message });
			this.notify();
		});
		this.closed = new Promise((resolve) => {
			socket.on('close', (hadError) => {
				this.closeInfo = { at: Date.now(), hadError, error: this.error, endReceived: this.endReceived };
				this.events.push({ type: 'close', at: this.closeInfo.at });
				this.notify();
				resolve(this.closeInfo);
			});
		});
	}

	notify() {
		for (const w of this.waiters) w();
	}

	get data() {
		return Buffer.concat(this.chunks);
	}

	get text() {
		return this.data.toString('latin1');
	}

	get isClosed() {
		return this.closeInfo !== null;
	}

	/** Writes bytes; resolves once handed to the kernel (never rejects). */
	write(bytes) {
		return new Promise((resolve) => {
			if (this.socket.destroyed || !this.socket.writable) return resolve(false);
			this.socket.write(bytes, (err) => resolve(!err));
		});
	}

	/** Resolves when pred(this) is true; rejects after timeoutMs. */
	waitUntil(pred, timeoutMs = 5000, what = 'condition') {
		return new Promise((resolve, reject) => {
			let timer;
			const check = () => {
				let ok = false;
				try {
					ok = pred(this);
				} catch (e) {
					done();
					return reject(e);
				}
				if (ok) {
					done();
					resolve(this);
				}
			};
			const done = () => {
				clearTimeout(timer);
				this.waiters.delete(check);
			};
			timer = setTimeout(() => {
				done();
				reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${this.data.length} bytes: ` +
					JSON.stringify(this.text.slice(0, 400)) + `; closed=${this.isClosed}`));
			}, timeoutMs);
			this.waiters.add(check);
			check();
		});
	}

	/** Resolves with n complete HTTP responses parsed from what arrived. */
	async waitResponses(n, timeoutMs = 5000) {
		await this.waitUntil(
			(c) => parseResponses(c.data, { eof: c.isClosed }).responses.length >= n || c.isClosed,
			timeoutMs,
			`${n} response(s)`,
		);
		const { responses } = parseResponses(this.data, { eof: this.isClosed });
		if (responses.length < n)
			throw new Error(`connection closed after ${responses.length} of ${n} responses; received: ` +
				JSON.stringify(this.text.slice(0, 600)));
		return responses;
	}

	/** Resolves with closeInfo once closed; rejects after timeoutMs. */
	async waitClosed(timeoutMs = 5000) {
		await this.waitUntil((c) => c.isClosed, timeoutMs, 'the connection to close');
		return this.closeInfo;
	}

	end() {
		this.socket.end();
	}

	destroy() {
		this.socket.destroy();
	}
}

/**
 * A TLS connection to the service, resolved after the handshake (rejects
 * with the handshake error). opts are passed to tls.connect (minVersion,
 * ciphers, session, ALPNProtocols ...).
 */
export function rawTls(svc, opts = {}, { timeoutMs = 5000 } = {}) {
	return new Promise((resolve, reject) => {
		const socket = tls.connect(tlsOptionsFor(svc, opts));
		const conn = new RawConn(socket);
		let connected = false;
		const timer = setTimeout(() => {
			socket.destroy();
			reject(new Error(`TLS handshake with ${svc.name} timed out`));
		}, timeoutMs);
		socket.once('secureConnect', () => {
			connected = true;
			clearTimeout(timer);
			resolve(conn);
		});
		socket.once('error', (e) => {
			clearTimeout(timer);
			if (!connected) reject(e);
		});
	});
}

/** A plain TCP connection to the service's port (no TLS). */
export function rawTcp(svc, { timeoutMs = 5000 } = {}) {
	return new Promise((resolve, reject) => {
		const socket = net.connect({ host: '127.0.0.1', port: svc.port });
		const conn = new RawConn(socket);
		const timer = setTimeout(() => {
			socket.destroy();
			reject(new Error('TCP connect timed out'));
		}, timeoutMs);
		socket.once('connect', () => {
			clearTimeout(timer);
			resolve(conn);
		});
		socket.once('error', (e) => {
			clearTimeout(timer);
			reject(e);
		});
	});
}

/**
 * Tries a TLS handshake and reports what was negotiated:
 * {ok: true, protocol, cipher, ephemeral, alpn, cert, reused, session} or
 * {ok: false, error}. The connection is closed before returning.
 */
export function tlsProbe(svc, opts = {}, { timeoutMs = 5000 } = {}) {
	return new Promise((resolve) => {
		const socket = tls.connect(tlsOptionsFor(svc, opts));
		let settled = false;
		const finish = (v) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			socket.destroy();
			resolve(v);
		};
		const timer = setTimeout(() => finish({ ok: false, error: new Error('handshake timed out') }), timeoutMs);
		socket.on('secureConnect', () =>
			finish({
				ok: true,
				protocol: socket.getProtocol(),
				cipher: socket.getCipher(),
				ephemeral: socket.getEphemeralKeyInfo(),
				alpn: socket.alpnProtocol,
				cert: socket.getPeerCertificate(),
				reused: socket.isSessionReused(),
				session: socket.getSession(),
			}),
		);
		socket.on('error', (error) => finish({ ok: false, error }));
	});
}

// ---------------------------------------------------------------- HTTP/1.1 bytes

/** Builds one HTTP/1.1 request as bytes. headers: object or [[name, value], ...]. */
export function httpRequest(method, target, headers = {}, body) {
	const list = Array.isArray(headers) ? headers : Object.entries(headers);
	if (!list.some(([k]) => k.toLowerCase() === 'host')) list.unshift(['Host', 'localhost']);
	let head = `${method} ${target} HTTP/1.1\r\n`;
	for (const [k, v] of list) head += `${k}: ${v}\r\n`;
	head += '\r\n';
	return body === undefined ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}

/**
 * Parses consecutive HTTP/1.1 responses from bytes. Returns {responses,
 * rest}; each response is {status, reason, headers (lower-case names, values
 * joined with ", "), headerList, body (Buffer), text, json()}. A response
 * without a length is complete only at eof.
 */
export function parseResponses(buf, { eof = false, headRequests = 0 } = {}) {
	const responses = [];
	let off = 0;
	for (;;) {
		const headEnd = buf.indexOf('\r\n\r\n', off, 'latin1');
		if (headEnd < 0) break;
		const head = buf.subarray(off, headEnd).toString('latin1').split('\r\n');
		const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(head[0]);
		if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(head[0].slice(0, 100))}`);
		const headers = {};
		const headerList = [];
		for (const line of head.slice(1)) {
			const i = line.indexOf(':');
			const k = line.slice(0, i).trim().toLowerCase();
			const v = line.slice(i + 1).trim();
			headerList.push([k, v]);
			headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
		}
		const status = Number(m[1]);
		let p = headEnd + 4;
		let body;
		const noBody = status === 204 || status === 304 || (status >= 100 && status < 200) || responses.length < headRequests;
		if (noBody) {
			body = Buffer.alloc(0);
		} else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
			const parts = [];
			let complete = false;
			for (;;) {
				const le = buf.indexOf('\r\n', p, 'latin1');
				if (le < 0) break;
				const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0], 16);
				if (Number.isNaN(size)) throw new Error('bad chunk size');
				if (size === 0) {
					// Trailer lines, then an empty line.
					let q = le + 2;
					for (;;) {
						const e = buf.indexOf('\r\n', q, 'latin1');
						if (e < 0) break;
						if (e === q) {
							p = q + 2;
							complete = true;
							break;
						}
						q = e + 2;
					}
					break;
				}
				if (le + 2 + size + 2 > buf.length) break;
				parts.push(buf.subarray(le + 2, le + 2 + size));
				p = le + 2 + size + 2;
			}
			if (!complete) break;
			body = Buffer.concat(parts);
		} else if (headers['content-length'] !== undefined) {
			const n = Number(headers['content-length']);
			if (p + n > buf.length) break;
			body = buf.subarray(p, p + n);
			p += n;
		} else {
			if (!eof) break;
			body = buf.subarray(p);
			p = buf.length;
		}
		responses.push({
			status,
			reason: m[2] ?? '',
			headers,
			headerList,
			body,
			text: body.toString('utf8'),
			json: () => JSON.parse(body.toString('utf8')),
		});
		off = p;
	}
	return { responses, rest: buf.subarray(off) };
}

// ---------------------------------------------------------------- assertions' helpers

/** Parses Prometheus text: {samples: [{name, labels, value}], types: {name: type}}. */
export function parseMetrics(text) {
	const samples = [];
	const types = {};
	for (const line of text.split('\n')) {
		if (line.startsWith('# TYPE ')) {
			const [, , name, type] = line.split(/\s+/);
			types[name] = type;
			continue;
		}
		if (line.startsWith('#') || line.trim() === '') continue;
		const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
		if (!m) throw new Error(`malformed metrics line: ${JSON.stringify(line)}`);
		const labels = {};
		if (m[3]) {
			const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;
			let lm;
			while ((lm = re.exec(m[3])) !== null) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
		}
		samples.push({ name: m[1], labels, value: Number(m[4]) });
	}
	return { samples, types };
}

/** Sum of the samples named name whose labels include every given label. */
export function metricSum(metrics, name, labels = {}) {
	return metrics.samples
		.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
		.reduce((a, s) => a + s.value, 0);
}

/**
 * Polls svc's /metrics until pred holds for the named sum, and returns the
 * parsed metrics of that scrape. A counter is bumped after the side effect it
 * counts (a mail accepted, a webhook received), so a test that has just seen
 * the side effect waits for the counter instead of racing it.
 */
export async function waitMetric(svc, name, labels, pred, { timeoutMs = 10000, what = name } = {}) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const m = parseMetrics((await request(svc, '/metrics')).text);
		const v = metricSum(m, name, labels);
		if (pred(v)) return m;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${name}${JSON.stringify(labels)} = ${v})`);
		await sleep(100);
	}
}

/**
 * Runs one SQL statement on a service's own database, as an operator (or an
 * attacker) with direct access would, and returns its output trimmed. On
 * SQLite the running service may hold the write lock for a moment: the CLI
 * waits up to 5 s for it, as the service itself does, instead of failing.
 */
export async function sqlOn(inst, service, statement) {
	const r =
		BACKEND === 'postgres'
			? await run('psql', [inst.dbEnv[`STRONGROOM_${service.toUpperCase()}_DATABASE_URL`], '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', statement])
			: await run('sqlite3', ['-cmd', '.timeout 5000', path.join(inst.dir, `${service}.db`), statement]);
	if (r.code !== 0) throw new Error(`sql failed (${r.code}): ${r.stderr}`);
	return r.stdout.trim();
}

/** Asserts the standard error body shape; returns the error object. */
export function errorObject(json) {
	if (!json || typeof json !== 'object' || !json.error || typeof json.error !== 'object')
		throw new Error(`not an error body: ${JSON.stringify(json)}`);
	const e = json.error;
	const types = ['invalid_request_error', 'authentication_error', 'rate_limit_error', 'api_error', 'card_error'];
	if (!types.includes(e.type)) throw new Error(`error.type ${JSON.stringify(e.type)} not one of ${types.join(', ')}`);
	if (typeof e.code !== 'string' || e.code === '') throw new Error(`error.code must be a non-empty string: ${JSON.stringify(e)}`);
	if (typeof e.message !== 'string' || e.message === '') throw new Error(`error.message must be a non-empty string: ${JSON.stringify(e)}`);
	if (!('param' in e) || !(e.param === null || typeof e.param === 'string'))
		throw new Error(`error.param must be present (null or a string): ${JSON.stringify(e)}`);
	return e;
}

/**
 * Every audit event of a service through GET /v1/audit_events (pages of
 * 100, with its secret key), oldest first. Throws unless each page is 200.
 */
export async function auditEvents(svc, key) {
	const out = [];
	let after = null;
	for (;;) {
		const q = `/v1/audit_events?limit=100${after ? `&starting_after=${after}` : ''}`;
		const r = await request(svc, q, { headers: { Authorization: `Bearer ${key}` } });
		if (r.status !== 200) throw new Error(`GET ${q}: ${r.status} ${r.text}`);
		const page = r.json();
		out.push(...page.data);
		if (!page.has_more) break;
		after = page.data[page.data.length - 1].seq;
	}
	return out.reverse();
}

export { exists, readFile, writeFile };
