// SPDX-License-Identifier: Apache-2.0
//
// Leak scan: after real card traffic, no card number and no CVC may be
// found anywhere the services write. The flows run against a whole
// instance (platform and vault, the vault's webhooks going to the
// platform): every test card of shared/data/testvectors/cards.md is
// tokenized the way the iframe does it (WebCrypto JWE), with a typed number
// in several spellings, plus refused inputs (a number failing Luhn, a bad
// CVC), which must not be logged either. Successful tokens then become
// stored cards (POST /v1/cards, GET /v1/cards/{id}), are charged
// (POST /v1/charges), and the payout-eligible ones are paid out
// (POST /v1/payouts)
// (including the amounts the sandbox fails or returns later, so the
// asynchronous webhooks reach the platform).
//
// Then it scans, while the services run and again after they stopped:
//   - every file under the instance folder: the vault's SQLite database
//     with its -wal/-shm files, the platform's database, mail and SMS
//     outboxes, audit checkpoints, anything else either service wrote;
//   - both services' logs (stderr and stdout);
//   - on PostgreSQL, a data-only pg_dump of the vault's and the platform's
//     databases (bytea shows as hex, so the hex spelling of a PAN is
//     searched there too), and the raw files of the test cluster when
//     SR_TEST_PG_DIR names it.
//
// What counts as a leak:
//   - a test PAN in any spacing: plain, groups of 4 separated by spaces or
//     dashes, and 4-6-5 for 15-digit (Amex) numbers;
//   - a CVC. A bare 3-digit number occurs in countless innocent places
//     (status codes, durations, byte counts), so searching "837" alone
//     would fail for no reason, and searching nothing would prove nothing.
//     The test therefore uses CVCs chosen to be distinctive and checks:
//       * 4-digit CVCs (Amex, and 4-digit values the vault refuses for a
//         Visa) as whole tokens (no digit or letter on either side), which
//         random ids and hashes practically never produce;
//       * every CVC in a card context: a "cvc" field or parameter with a
//         numeric value ("cvc":"837", "cvc": 837, cvc=837) in any file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { startInstance, request, run, sleep, BACKEND } from './lib/harness.mjs';
import { TEST_CARDS, cardFor, fetchJwks, tokenize, PAYOUT_AMOUNT_FAILS, PAYOUT_AMOUNT_RETURNS } from './lib/card.mjs';

// Distinctive CVCs, one per test card (3 digits, 4 for Amex).
const CVC3 = ['837', '592', '461', '718', '946', '283', '659', '374', '815', '528', '697', '342', '869', '253', '784'];
const CVC4 = ['4719', '8362'];
// Refused inputs carry CVCs too; the refusal must not write them anywhere.
const REFUSED_CVC4 = '5293'; // 4 digits on a Visa: invalid_cvc

function groups(digits, sizes, sep) {
	const out = [];
	let i = 0;
	for (const n of sizes) {
		out.push(digits.slice(i, i + n));
		i += n;
	}
	return out.join(sep);
}

/** Every spelling of a PAN that must never be found. */
function panSpellings(pan) {
	const s = [pan];
	if (pan.length === 16) for (const sep of [' ', '-']) s.push(groups(pan, [4, 4, 4, 4], sep));
	if (pan.length === 15) for (const sep of [' ', '-']) s.push(groups(pan, [4, 6, 5], sep), groups(pan, [4, 4, 4, 3], sep));
	return s;
}

const ALL_PANS = TEST_CARDS.map((c) => c.number);
// A number that fails Luhn (refused with invalid_number) is still a card
// number a user typed: it must not be logged either.
const BAD_LUHN = '4242424242424241';

const NEEDLES = [...ALL_PANS, BAD_LUHN].flatMap((pan) =>
	panSpellings(pan).map((text) => ({ what: `PAN …${pan.slice(-4)} as "${text.replace(/\d(?=.*\d{4})/g, '•')}"`, bytes: Buffer.from(text, 'latin1') })));
// bytea in a pg_dump is hex: "\x34323432…"
const HEX_NEEDLES = [...ALL_PANS, BAD_LUHN].map((pan) => ({ what: `PAN …${pan.slice(-4)} (hex)`, bytes: Buffer.from(Buffer.from(pan).toString('hex')) }));

const CVC_FIELD = /(?<![A-Za-z0-9_])["']?cvc["']?\s*[:=]\s*["']?(\d{3,4})(?!\d)/gi;

/** Finds leaks in one buffer; returns human-readable findings (never the secret itself). */
function scanBuffer(buf, where, { hex = false } = {}) {
	const found = [];
	for (const n of hex ? [...NEEDLES, ...HEX_NEEDLES] : NEEDLES) if (buf.indexOf(n.bytes) !== -1) found.push(`${n.what} in ${where}`);
	const text = buf.toString('latin1');
	for (const cvc of [...CVC4, REFUSED_CVC4]) {
		if (new RegExp(`(?<![A-Za-z0-9])${cvc}(?![A-Za-z0-9])`).test(text)) found.push(`4-digit CVC ${cvc[0]}••• in ${where}`);
	}
	for (const m of text.matchAll(CVC_FIELD)) found.push(`a "cvc" field with a value (${m[1].length} digits) in ${where}`);
	return found;
}

async function walk(dir) {
	const out = [];
	for (const e of await readdir(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) out.push(...(await walk(p)));
		else if (e.isFile()) out.push(p);
	}
	return out;
}

async function scanFiles(files, label, opts) {
	const found = [];
	for (const f of files) {
		let buf;
		try {
			if ((await stat(f)).size > 256 << 20) continue; // not a file the services wrote
			buf = await readFile(f);
		} catch (e) {
			if (e.code === 'ENOENT' || e.code === 'EACCES') continue; // gone (WAL checkpointed) or not ours
			throw e;
		}
		found.push(...scanBuffer(buf, `${label}${path.sep}${f}`, opts));
	}
	return found;
}

/**
 * Everything the services wrote, as scanned now. Returns {findings,
 * scanned, sawProbe}: sawProbe says whether the vault's storage as scanned
 * holds probe (a token id, stored in clear), proving the scan reads where
 * the card data lives.
 */
async function scanEverything(inst, phase, probe) {
	const findings = [];
	let sawProbe = false;
	const files = await walk(inst.dir);
	findings.push(...(await scanFiles(files, `[${phase}] instance file `)));
	for (const f of files.filter((x) => path.basename(x).startsWith('vault.db'))) {
		if ((await readFile(f)).indexOf(probe) !== -1) sawProbe = true;
	}
	for (const svc of Object.values(inst.services)) {
		findings.push(...scanBuffer(Buffer.from(svc.stderr + svc.stdout, 'utf8'), `[${phase}] ${svc.name} log`));
	}
	const scanned = { files: files.map((f) => path.relative(inst.dir, f)) };
	if (BACKEND === 'postgres') {
		for (const svc of ['vault', 'platform']) {
			const url = inst.dbEnv[`STRONGROOM_${svc.toUpperCase()}_DATABASE_URL`];
			const dump = await run('pg_dump', ['--data-only', '--no-owner', url], { timeout: 60000 });
			assert.equal(dump.code, 0, `pg_dump of the ${svc} database: ${dump.stderr}`);
			assert.ok(dump.stdout.length > 0);
			findings.push(...scanBuffer(Buffer.from(dump.stdout, 'utf8'), `[${phase}] pg_dump of the ${svc} database`, { hex: true }));
			if (svc === 'vault' && dump.stdout.includes(probe)) sawProbe = true;
		}
		if (process.env.SR_TEST_PG_DIR) {
			const pgFiles = await walk(process.env.SR_TEST_PG_DIR);
			findings.push(...(await scanFiles(pgFiles, `[${phase}] PostgreSQL data file `)));
			scanned.pgFiles = pgFiles.length;
		}
	}
	return { findings, scanned, sawProbe };
}

test('the scanner finds what it looks for (so a clean result means something)', () => {
	const planted = Buffer.concat([
		Buffer.from([0, 1, 2]),
		Buffer.from('{"msg":"x","number":"4242 4242 4242 4242"} 3782-822463-10005 {"cvc": "837"} id=4719,'),
	]);
	const f = scanBuffer(planted, 'planted');
	assert.ok(f.some((x) => x.includes('…4242')), f.join('\n'));
	assert.ok(f.some((x) => x.includes('…0005')), f.join('\n'));
	assert.ok(f.some((x) => x.includes('"cvc" field')), f.join('\n'));
	assert.ok(f.some((x) => x.includes('4-digit CVC 4')), f.join('\n'));
	assert.ok(!f.join('\n').includes('4242424242424242'), 'findings never print the PAN');
	// Innocent text: digits inside ids, cvc_check, 3-digit numbers.
	const innocent = Buffer.from('{"id":"tok_a4719b","cvc_check":"pass","status":837,"bytes":592,"n":"x84719"}');
	assert.deepEqual(scanBuffer(innocent, 'innocent'), []);
	assert.ok(scanBuffer(Buffer.from('\\x' + Buffer.from('4242424242424242').toString('hex')), 'dump', { hex: true }).length > 0);
});

test('no PAN and no CVC in the vault database, logs or any file either service wrote, after the card flows', async (t) => {
	const inst = await startInstance({
		configOverrides: { vault: { sandbox_async_delay_ms: 200, tokens_per_minute_per_ip: 1000 } },
	});
	try {
		const v = inst.vault;
		const pk = inst.credentials.vault_publishable_key;
		const sk = inst.credentials.vault_secret_key;
		const jwks = await fetchJwks(v);

		// 1. Tokenize every test card, each with its own distinctive CVC;
		//    the number typed with spaces or dashes as users do.
		const tokens = [];
		let i3 = 0;
		let i4 = 0;
		for (const [i, c] of TEST_CARDS.entries()) {
			const amex = c.brand === 'amex';
			const cvc = amex ? CVC4[i4++ % CVC4.length] : CVC3[i3++ % CVC3.length];
			const spellings = panSpellings(c.number);
			const typed = spellings[i % spellings.length];
			const r = await tokenize(v, pk, cardFor(typed, { cvc }), { jwks });
			if (c.tokenizes) {
				assert.equal(r.status, 201, `${c.brand} …${c.number.slice(-4)}: ${r.text}`);
				tokens.push({ card: c, token: r.body.id });
			} else {
				assert.ok(r.status >= 400 && r.status < 500, `${c.brand} …${c.number.slice(-4)}: ${r.status}`);
			}
			assert.ok(!r.text.includes(c.number), 'no PAN in an answer');
		}
		// A second token for the payout cards (a token is single-use).
		for (const c of TEST_CARDS.filter((x) => x.payouts)) {
			const r = await tokenize(v, pk, cardFor(c.number, { cvc: CVC3[i3++ % CVC3.length] }), { jwks });
			assert.equal(r.status, 201, r.text);
			tokens.push({ card: c, token: r.body.id, forPayout: true });
		}
		// Refused inputs.
		let r = await tokenize(v, pk, cardFor(BAD_LUHN, { cvc: '837' }), { jwks });
		assert.equal(r.status, 400);
		r = await tokenize(v, pk, cardFor('4242424242424242', { cvc: REFUSED_CVC4 }), { jwks });
		assert.equal(r.status, 400);
		assert.equal(r.body.error.param, 'cvc');

		// 2. Stored cards, charges and payouts.
		const json = (method, p, body, key = sk) => request(v, p, {
			method,
			headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		{
			let charged = 0;
			let paid = 0;
			for (const tk of tokens) {
				const card = await json('POST', '/v1/cards', { token: tk.token });
				assert.equal(card.status, 201, card.text);
				const cardId = JSON.parse(card.text).id;
				assert.equal((await json('GET', `/v1/cards/${cardId}`)).status, 200);
				if (!tk.forPayout) {
					const ch = await json('POST', '/v1/charges', { card: cardId, amount: 1999, currency: 'usd' });
					assert.ok([200, 201, 402].includes(ch.status), ch.text);
					charged++;
				} else {
					for (const amount of [2500, PAYOUT_AMOUNT_FAILS, PAYOUT_AMOUNT_RETURNS]) {
						const po = await json('POST', '/v1/payouts', { card: cardId, amount, currency: 'eur' });
						assert.ok([200, 201, 402].includes(po.status), po.text);
						paid++;
					}
				}
			}
			// A charge straight from a token, and reading it back.
			const t2 = await tokenize(v, pk, cardFor('5555 5555 5555 4444', { cvc: '837' }), { jwks });
			assert.equal(t2.status, 201, t2.text);
			const ch = await json('POST', '/v1/charges', { token: t2.body.id, amount: 4200, currency: 'usd' });
			assert.ok([200, 201].includes(ch.status), ch.text);
			assert.equal((await json('GET', `/v1/charges/${JSON.parse(ch.text).id}`)).status, 200);
			assert.ok(charged > 0 && paid > 0);
			await sleep(1000); // asynchronous payout outcomes and their webhooks
		}

		// 3. Scan while running (SQLite -wal/-shm present), then after a clean stop.
		const probe = tokens[0].token;
		const live = await scanEverything(inst, 'running', probe);
		assert.ok(live.sawProbe, 'the scan reads the vault storage that holds the tokens');
		if (BACKEND === 'sqlite') {
			assert.ok(live.scanned.files.includes('vault.db'), `the vault database was scanned: ${live.scanned.files}`);
			assert.ok(live.scanned.files.some((f) => f === 'vault.db-wal'), `its WAL was scanned: ${live.scanned.files}`);
		}
		await inst.vault.stop();
		await inst.platform.stop();
		const after = await scanEverything(inst, 'stopped', probe);
		assert.ok(after.sawProbe, 'the scan reads the vault storage that holds the tokens');
		const findings = [...live.findings, ...after.findings];
		assert.deepEqual(findings, [], `leaks found:\n${findings.join('\n')}`);
		t.diagnostic(`scanned ${after.scanned.files.length} instance files and both logs${after.scanned.pgFiles ? `, ${after.scanned.pgFiles} PostgreSQL files` : ''}`);
	} catch (e) {
		inst.dumpLogs();
		throw e;
	} finally {
		await inst.stop();
	}
});
