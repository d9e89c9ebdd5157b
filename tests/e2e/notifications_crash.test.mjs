// SPDX-License-Identifier: Apache-2.0
//
// Notifications survive what operators fear: the platform killed with
// SIGKILL in the middle of a burst of vault events, and an SMTP server that
// turns mail away for a while. In both cases every member event is mailed,
// and none is mailed as two different messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricSum, sleep, waitMetric, withInstance } from './lib/harness.mjs';
import { authed, login, signup } from './lib/accounts.mjs';
import { fastNotifyEnv, postVaultEvent, readKey, startSmtp, vaultEvent, waitMessages } from './lib/notify.mjs';

const BURST = 200;

test('kill -9 during a burst of 200 vault events: after a restart each is mailed, none as two messages', async (t) => {
	const smtp = await startSmtp();
	try {
		await withInstance({ services: ['platform'], env: fastNotifyEnv(smtp) }, async (inst) => {
			const secret = await readKey(inst, 'vault-webhook.key');
			const member = await signup(inst.platform);
			const events = Array.from({ length: BURST }, (_, i) =>
				vaultEvent('payout.paid', member.id, { amount: 1000 + i, currency: 'eur', objectId: `po_burst${String(i).padStart(4, '0')}` }));

			// Ten vault senders at once; SIGKILL once a third is acknowledged,
			// while requests are in flight and the outbox is sending.
			const acked = new Set();
			let next = 0;
			let killed = false;
			const sender = async () => {
				while (next < BURST) {
					const ev = events[next++];
					try {
						const r = await postVaultEvent(inst.platform, secret, ev);
						if (r.status === 200) acked.add(ev.id);
					} catch {
						// connection reset by the kill: the vault retries it later
					}
					if (!killed && acked.size >= BURST / 3) {
						killed = true;
						inst.platform.kill('SIGKILL');
					}
				}
			};
			await Promise.all(Array.from({ length: 10 }, sender));
			assert.ok(killed, 'the platform was killed during the burst');
			await inst.platform.waitExit();
			assert.equal(inst.platform.exit.signal, 'SIGKILL');
			const mailedBeforeRestart = (await smtp.messages()).length;
			assert.ok(acked.size < BURST, `some events were not acknowledged (${acked.size} were)`);

			// Restart on the same database. The vault redelivers whatever it
			// has no 2xx for; to be harsh, redeliver every event.
			await inst.startService('platform');
			for (let i = 0; i < BURST; i += 20) {
				const rs = await Promise.all(events.slice(i, i + 20).map((ev) => postVaultEvent(inst.platform, secret, ev)));
				for (const r of rs) assert.equal(r.status, 200, JSON.stringify(r.body));
			}

			// Rows claimed by the killed process come back when its lease
			// ([notify] lease_s = 2 here) runs out.
			const isPayout = (m) => /Payout sent/.test(m.subject);
			const msgs = await waitMessages(smtp, (ms) => new Set(ms.filter(isPayout).map((m) => m.messageId)).size >= BURST,
				{ timeoutMs: 60000, what: `${BURST} distinct payout emails` });
			await sleep(1000); // room for a late duplicate, if there were one
			const payouts = (await smtp.messages()).filter(isPayout);

			// Each event is one message: one Message-ID and one reference per
			// payout amount (each event had its own amount). A row whose send
			// was interrupted by the kill -9 after the SMTP server accepted it,
			// but before the platform recorded "sent", is sent again when its
			// lease runs out - delivery is at least once - and that resend
			// carries the SAME Message-ID (<ntf_ID@domain>, fixed per outbox
			// row), so mail stores drop it and the member sees one message.
			const byId = new Map();
			for (const m of payouts) {
				const ref = /msg_[0-9a-f]{32}/.exec(m.text)?.[0];
				const amount = /Payout sent: ([0-9.]+) EUR/.exec(m.subject)?.[1];
				assert.ok(ref && amount, m.subject);
				const seen = byId.get(m.messageId);
				if (seen) assert.deepEqual(seen, { ref, amount }, 'a resend is the same message');
				byId.set(m.messageId, { ref, amount });
			}
			assert.equal(byId.size, BURST, 'distinct Message-IDs');
			assert.equal(new Set([...byId.values()].map((v) => v.ref)).size, BURST, 'distinct references');
			assert.equal(new Set([...byId.values()].map((v) => v.amount)).size, BURST, 'every event, once');
			const resent = payouts.length - byId.size;
			assert.ok(resent <= 32, `at most one claimed batch is resent (${resent})`);
			t.diagnostic(`${mailedBeforeRestart} mailed before the kill, ${acked.size} acked, ${resent} resent with the same Message-ID`);

			// And the app shows each one once too.
			const s = await login(inst.platform, member.email, member.password);
			let all = [];
			let cursor = '';
			for (;;) {
				const page = await authed(inst.platform, s, `/v1/messages?limit=100${cursor}`, { csrf: false });
				assert.equal(page.status, 200);
				all = all.concat(page.body.data);
				if (!page.body.has_more) break;
				cursor = `&starting_after=${page.body.data.at(-1).id}`;
			}
			assert.equal(all.filter((m) => m.event === 'payout_sent').length, BURST);
			assert.equal(new Set(all.map((m) => m.id)).size, all.length);
		});
	} finally {
		await smtp.stop();
	}
});

test('an SMTP server that refuses with 451 at first gets the mail on a later attempt', async () => {
	const smtp = await startSmtp({ failFirst: 3 });
	try {
		await withInstance({ services: ['platform'], env: fastNotifyEnv(smtp) }, async (inst) => {
			const secret = await readKey(inst, 'vault-webhook.key');
			const member = await signup(inst.platform); // its verification mail meets the 451s first
			const r = await postVaultEvent(inst.platform, secret, vaultEvent('charge.succeeded', member.id, { amount: 4200, currency: 'chf' }));
			assert.equal(r.body.outcome, 'notified');
			const msgs = await waitMessages(smtp, (ms) => ms.some((m) => m.text.includes(r.body.reference)) && ms.length >= 2,
				{ timeoutMs: 20000, what: 'both emails after the 451s' });
			assert.match(msgs.find((m) => m.text.includes(r.body.reference)).subject, /42\.00 CHF/);
			// The SMTP server has the mail; the platform counts it once it has
			// recorded the send, a moment later.
			const metrics = await waitMetric(inst.platform, 'sr_notifications_total', { outcome: 'sent' }, (v) => v >= 2, { what: 'both sends counted' });
			assert.ok(metricSum(metrics, 'sr_notifications_total', { outcome: 'retried' }) >= 3, 'three refusals, three retries');
			assert.equal(metricSum(metrics, 'sr_notifications_total', { outcome: 'failed' }), 0);
			assert.equal(new Set(msgs.map((m) => m.messageId)).size, msgs.length, 'each accepted once');
		});
	} finally {
		await smtp.stop();
	}
});
