// SPDX-License-Identifier: Apache-2.0
//
// What an authenticator app does (RFC 6238 / RFC 4226 with node:crypto's
// HMAC-SHA1), for the MFA tests: decode the base32 secret the platform
// returned and compute the code for a time.

import { createHmac } from 'node:crypto';
import { sleep } from './harness.mjs';

export const STEP = 30;

export function base32Decode(s) {
	const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	let bits = 0;
	let value = 0;
	const out = [];
	for (const ch of s.replace(/=+$/, '').toUpperCase()) {
		const i = alphabet.indexOf(ch);
		if (i < 0) throw new Error(`not base32: ${ch}`);
		value = (value << 5) | i;
		bits += 5;
		if (bits >= 8) {
			out.push((value >>> (bits - 8)) & 0xff);
			bits -= 8;
		}
	}
	return Buffer.from(out);
}

/** The 6-digit code for unix time t (seconds), HMAC-SHA1, 30 s steps. */
export function totp(secretB32, t = Date.now() / 1000) {
	const counter = Math.floor(t / STEP);
	const msg = Buffer.alloc(8);
	msg.writeBigUInt64BE(BigInt(counter));
	const mac = createHmac('sha1', base32Decode(secretB32)).update(msg).digest();
	const off = mac[mac.length - 1] & 0x0f;
	const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
	return String(bin % 1e6).padStart(6, '0');
}

/** The code `steps` time steps from now (negative: the past). */
export const totpAt = (secret, steps) => totp(secret, Date.now() / 1000 + steps * STEP);

/**
 * Waits until the clock is well inside a time step (at least `margin`
 * seconds from either edge), so that "the previous / next step" means the
 * same to the test and to the server for the next few seconds.
 */
export async function midStep(margin = 12) {
	for (;;) {
		const into = (Date.now() / 1000) % STEP;
		if (into >= 1 && into <= STEP - margin) return;
		await sleep(250);
	}
}
