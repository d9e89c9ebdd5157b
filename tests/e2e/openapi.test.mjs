// SPDX-License-Identifier: Apache-2.0
//
// Keeps docs/openapi.yaml true: every route registered in the C sources is
// documented; every documented operation answers, on both services, with a
// documented status whose body matches the documented schema; a method a
// path does not take gets the documented 405 with Allow.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, readdir } from 'node:fs/promises';
import YAML from 'yaml';
import { SOURCE_DIR, useInstance, request } from './lib/harness.mjs';

const spec = YAML.parse(await readFile(path.join(SOURCE_DIR, 'docs/openapi.yaml'), 'utf8'));
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function resolve(node) {
	while (node && node.$ref) {
		const parts = node.$ref.replace(/^#\//, '').split('/');
		node = parts.reduce((o, k) => o[k], spec);
	}
	return node;
}

// A small validator for the JSON Schema subset the spec uses.
function validate(schema, value, where = '$') {
	schema = resolve(schema);
	if (!schema) return [];
	const errs = [];
	if ('const' in schema && value !== schema.const) errs.push(`${where}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
	if (schema.enum && !schema.enum.includes(value)) errs.push(`${where}: ${JSON.stringify(value)} not in ${schema.enum}`);
	if (schema.type) {
		const types = [].concat(schema.type);
		const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
		const ok = types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
		if (!ok) errs.push(`${where}: expected ${types.join('|')}, got ${actual}`);
	}
	if (value && typeof value === 'object' && !Array.isArray(value)) {
		for (const k of schema.required || []) if (!(k in value)) errs.push(`${where}: missing ${k}`);
		for (const [k, s] of Object.entries(schema.properties || {})) if (k in value) errs.push(...validate(s, value[k], `${where}.${k}`));
	}
	if (Array.isArray(value) && schema.items) value.forEach((v, i) => errs.push(...validate(schema.items, v, `${where}[${i}]`)));
	return errs;
}

async function cSources(dir) {
	const out = [];
	for (const e of await readdir(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) out.push(...(await cSources(p)));
		else if (e.name.endsWith('.c')) out.push(p);
	}
	return out;
}

test('every route in the C sources is in docs/openapi.yaml', async () => {
	const routes = [];
	for (const f of await cSources(path.join(SOURCE_DIR, 'src'))) {
		const text = await readFile(f, 'utf8');
		for (const m of text.matchAll(/sr_router_add\([^,]+,\s*"([A-Z]+)",\s*"([^"]+)"/g)) routes.push([m[1], m[2], f]);
	}
	assert.ok(routes.length >= 4, 'found the route registrations');
	for (const [method, p, f] of routes) {
		assert.ok(spec.paths[p]?.[method.toLowerCase()], `${method} ${p} (${path.relative(SOURCE_DIR, f)}) is not documented`);
	}
});

for (const service of ['platform', 'vault']) {
	test(`${service}: documented operations answer as documented`, async (t) => {
		const ctx = { inst: null };
		const { startInstance } = await import('./lib/harness.mjs');
		ctx.inst = await startInstance({ services: [service] });
		t.after(() => ctx.inst.stop());
		const S = ctx.inst[service];
		const key = service === 'platform' ? ctx.inst.credentials.platform_secret_key : ctx.inst.credentials.vault_secret_key;

		for (const [p, item] of Object.entries(spec.paths)) {
			if (p.includes('{')) continue; // parameterised paths need objects; their own tests cover them
			// A path only one service serves (x-strongroom-service) is 404 on the other.
			const only = item['x-strongroom-service'];
			if (only && only !== service) {
				const r = await request(S, p, { headers: { Authorization: `Bearer ${key}` } });
				assert.equal(r.status, 404, `GET ${p} is ${only}-only and should be 404 on ${service}`);
				continue;
			}
			for (const method of METHODS) {
				const op = item[method];
				if (!op) {
					const r = await request(S, p, { method: method.toUpperCase(), headers: { Authorization: `Bearer ${key}` } });
					assert.equal(r.status, 405, `${method.toUpperCase()} ${p} should be 405`);
					assert.ok(Object.keys(item).some((m) => METHODS.includes(m) && item[m].responses['405']), `405 documented for ${p}`);
					assert.ok(r.headers.allow, `Allow on 405 for ${p}`);
					continue;
				}
				const security = op.security ?? spec.security ?? [];
				// Operations that need a request body or a browser session
				// cannot succeed from this bare call; their own tests cover
				// success. Here: whatever they answer is documented.
				if (op.requestBody?.required || security.some((s) => 'sessionCookie' in s)) {
					const r = await request(S, p, { method: method.toUpperCase() });
					const label = `${method.toUpperCase()} ${p} without body or session`;
					const doc = resolve(op.responses[String(r.status)]);
					assert.ok(doc, `${label}: status ${r.status} is not documented`);
					assert.ok(r.status >= 400 && r.status < 500, `${label}: ${r.status} ${r.text}`);
					const errs = validate(doc.content['application/json'].schema, r.json());
					assert.deepEqual(errs, [], `${label}: body does not match the schema`);
					continue;
				}
				const secured = security.length > 0;
				const calls = [{ auth: true }];
				if (secured) calls.push({ auth: false });
				for (const c of calls) {
					const headers = c.auth && secured ? { Authorization: `Bearer ${key}` } : {};
					const r = await request(S, p, { method: method.toUpperCase(), headers });
					const label = `${method.toUpperCase()} ${p} ${c.auth ? 'with' : 'without'} key`;
					const doc = resolve(op.responses[String(r.status)]);
					assert.ok(doc, `${label}: status ${r.status} is not documented`);
					if (secured && !c.auth) assert.equal(r.status, 401, label);
					if (!secured || c.auth) assert.ok(r.status < 300, `${label}: ${r.status} ${r.text}`);
					const media = doc.content && Object.keys(doc.content)[0];
					if (media === 'application/json') {
						assert.match(r.headers['content-type'], /^application\/json/, label);
						const errs = validate(doc.content[media].schema, r.json());
						assert.deepEqual(errs, [], `${label}: body does not match the schema`);
					} else if (media) {
						assert.ok(r.headers['content-type'].startsWith(media), `${label}: content-type ${r.headers['content-type']}`);
					}
				}
			}
		}
	});
}
