// SPDX-License-Identifier: Apache-2.0
//
// Load generator for bench/accounts.sh: real HTTPS (TLS 1.3, keep-alive,
// trusting only the instance's CA) against a running platform.
//
//   node bench/accounts_load.mjs MODE --port P --ca FILE [options]
//
// Modes:
//   signup   --email E --password P      creates the bench member (201 or 409 ok)
//   idle     --samples N                  GET /healthz one after another:
//                                         healthz.idle.p99_ms, p50_ms
//   logins   --email E --password P --seconds S --concurrency C [--samples N]
//   (idle and logins append raw /healthz latencies to --dump FILE if given)
//            C clients log in back to back (POST /v1/sessions) for S seconds
//            while one more client times GET /healthz one after another:
//            logins_per_s, logins.ok, logins.failed, healthz.busy.p99_ms ...
//
// Prints key=value lines on stdout, nothing else.
import https from 'node:https';
import { readFileSync, appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { positionals, values: o } = parseArgs({
	allowPositionals: true,
	options: {
		port: { type: 'string' },
		ca: { type: 'string' },
		email: { type: 'string', default: 'bench@example.com' },
		password: { type: 'string', default: 'violet kestrel orbit 7731 lantern' },
		seconds: { type: 'string', default: '5' },
		concurrency: { type: 'string', default: '4' },
		samples: { type: 'string', default: '2000' },
		dump: { type: 'string' },
	},
});
const mode = positionals[0];
const ca = readFileSync(o.ca);
const agentFor = () => new https.Agent({ keepAlive: true, maxSockets: 1, ca });

function req(agent, method, path, body) {
	return new Promise((resolve, reject) => {
		const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
		const r = https.request(
			{
				host: '127.0.0.1',
				servername: 'localhost',
				port: Number(o.port),
				method,
				path,
				agent,
				headers: {
					'user-agent': 'strongroom-bench/1',
					...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
				},
			},
			(res) => {
				res.on('data', () => {});
				res.on('end', () => resolve(res.statusCode));
			},
		);
		r.on('error', reject);
		if (data) r.write(data);
		r.end();
	});
}

function pct(sorted, p) {
	if (sorted.length === 0) return NaN;
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function sampleHealthz(n, until) {
	const agent = agentFor();
	const lat = [];
	await req(agent, 'GET', '/healthz'); // handshake outside the sample
	while (lat.length < n && (until === undefined || performance.now() < until)) {
		const t0 = performance.now();
		const st = await req(agent, 'GET', '/healthz');
		if (st !== 200) throw new Error(`healthz answered ${st}`);
		lat.push(performance.now() - t0);
	}
	agent.destroy();
	return lat.sort((a, b) => a - b);
}

// Raw latencies (ms, one a line) for a p99 over several rounds.
const dump = (lat) => {
	if (o.dump) appendFileSync(o.dump, lat.map((x) => x.toFixed(4)).join('\n') + '\n');
};
const out = (k, v) => console.log(`${k}=${typeof v === 'number' ? v.toFixed(3) : v}`);

if (mode === 'signup') {
	const st = await req(agentFor(), 'POST', '/v1/users', { email: o.email, password: o.password, name: 'Bench Member' });
	if (st !== 201 && st !== 409) throw new Error(`sign-up answered ${st}`);
	out('signup.status', String(st));
} else if (mode === 'idle') {
	const lat = await sampleHealthz(Number(o.samples));
	dump(lat);
	out('healthz.idle.samples', String(lat.length));
	out('healthz.idle.p50_ms', pct(lat, 50));
	out('healthz.idle.p99_ms', pct(lat, 99));
} else if (mode === 'logins') {
	const secs = Number(o.seconds);
	const conc = Number(o.concurrency);
	let ok = 0;
	let failed = 0;
	const statuses = {};
	const t0 = performance.now();
	const until = t0 + secs * 1000;
	const clients = [];
	for (let i = 0; i < conc; i++) {
		clients.push(
			(async () => {
				const agent = agentFor();
				while (performance.now() < until) {
					const st = await req(agent, 'POST', '/v1/sessions', { email: o.email, password: o.password });
					statuses[st] = (statuses[st] || 0) + 1;
					if (st === 201) ok++;
					else failed++;
				}
				agent.destroy();
			})(),
		);
	}
	// Let the pool fill before timing /healthz against it.
	await new Promise((r) => setTimeout(r, 300));
	// --samples 0: logins alone, for logins/s undisturbed by the sampler.
	const lat = Number(o.samples) > 0 ? await sampleHealthz(Number(o.samples), until - 100) : [];
	await Promise.all(clients);
	dump(lat);
	const elapsed = (performance.now() - t0) / 1000;
	out('logins_per_s', ok / elapsed);
	out('logins.elapsed_s', elapsed);
	out('logins.ok', String(ok));
	out('logins.failed', String(failed));
	out('logins.statuses', JSON.stringify(statuses).replace(/[{}"]/g, ''));
	out('healthz.busy.samples', String(lat.length));
	out('healthz.busy.p50_ms', pct(lat, 50));
	out('healthz.busy.p99_ms', pct(lat, 99));
} else {
	console.error('usage: accounts_load.mjs signup|idle|logins --port P --ca FILE ...');
	process.exit(2);
}
