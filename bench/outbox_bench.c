/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Outbox delivery throughput, for bench/outbox.sh: enqueues N payout_sent
 * emails in the instance's platform database, then drives the platform's
 * own delivery job (platform/notify/delivery.c: claim under a lease,
 * render, compose, DKIM-sign rsa-sha256, SMTP over libcurl, mark sent) on
 * one thread, as a running platform does, until every row is sent.
 * Prints "outbox.emails_per_s=R" (sent / wall seconds of the delivery
 * phase only) and "outbox.sent=N".
 *
 *   outbox_bench --config DIR/strongroom.conf --count N
 * [email] smtp_url comes from the config or STRONGROOM_EMAIL_SMTP_URL.
 */
#include "base/config.h"
#include "platform/notify/delivery.h"
#include "platform/notify/outbox.h"
#include "store/migrate.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct enq {
	long from, n;
};

static int enqueue_tx(struct sr_conn *c, void *arg)
{
	struct enq *e = arg;
	char key[64], vars[160], ref[SR_OUTBOX_ID_SIZE];
	for (long i = e->from; i < e->from + e->n; i++) {
		snprintf(key, sizeof key, "payout_sent:po_bench%ld:email", i);
		snprintf(vars, sizeof vars,
			 "{\"amount_minor\":%ld,\"currency\":\"EUR\",\"destination\":\"Visa card "
			 "ending in 4242\"}",
			 1000 + i);
		struct sr_outbox_item item = {
			.dedup_key = key,
			.channel = SR_OUTBOX_EMAIL,
			.recipient = "member@example.org",
			.template_name = "payout_sent",
			.variables_json = vars,
		};
		int rc = sr_outbox_enqueue(c, &item, ref);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	long count = 200;
	char err[512];
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--config") == 0)
			conf = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			count = strtol(argv[i + 1], NULL, 10);
	}
	if (conf == NULL || count < 1) {
		fprintf(stderr, "usage: outbox_bench --config FILE --count N\n");
		return 2;
	}
	struct sr_config *cfg = NULL;
	struct sr_store *st = NULL;
	struct sr_delivery *d = NULL;
	int rc = sr_config_load(conf, &cfg, err, sizeof err);
	if (rc == 0)
		rc = sr_store_open_for_service(cfg, "platform", 2, &st, err, sizeof err);
	if (rc == 0)
		rc = sr_migrate(st, "platform", err, sizeof err);
	for (long i = 0; rc == 0 && i < count; i += 100) {
		struct enq e = {.from = i, .n = count - i < 100 ? count - i : 100};
		rc = sr_store_tx(st, SR_TX_WRITE, enqueue_tx, &e);
		if (rc != 0)
			snprintf(err, sizeof err, "enqueue: %s", sr_strerror(rc));
	}
	if (rc == 0)
		rc = sr_delivery_new(st, cfg, NULL, &d, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "outbox_bench: %s\n", err);
		goto out;
	}
	double t0 = now_s();
	long claimed = 0;
	for (;;) {
		size_t n = 0;
		if ((rc = sr_delivery_run_once(d, &n)) != 0) {
			fprintf(stderr, "outbox_bench: claim: %s\n", sr_strerror(rc));
			goto out;
		}
		if (n == 0)
			break;
		claimed += (long)n;
	}
	double secs = now_s() - t0;
	struct sr_delivery_stats s;
	sr_delivery_stats(d, &s);
	printf("outbox.sent=%llu\n", (unsigned long long)s.sent);
	printf("outbox.claimed=%ld\n", claimed);
	printf("outbox.emails_per_s=%.1f\n", secs > 0 ? (double)s.sent / secs : 0.0);
	rc = s.sent == (unsigned long long)count ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "outbox_bench: %llu of %ld sent (retried %llu, failed %llu)\n",
			(unsigned long long)s.sent, count, (unsigned long long)s.retried,
			(unsigned long long)s.failed);
out:
	sr_delivery_stop(d);
	sr_store_close(st);
	sr_config_free(cfg);
	return rc == 0 ? 0 : 1;
}
