/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The machine's ceiling for password logins, measured with libsodium alone:
 * seconds per Argon2id hash (crypto_pwhash, the call strongroom's
 * crypto/password makes, with the [passwords] memory_kib / iterations of
 * the instance's config), first on one thread, then on N threads at once
 * (N = cores by default), which shows what memory bandwidth shared by the
 * cores costs. bench/accounts.sh divides the platform's logins/s by
 *
 *   ceiling = cores / seconds_per_hash (one thread)
 *
 * as the issue defines it, and prints the parallel figure next to it.
 *
 *   accounts_pwhash --config FILE [--seconds S] [--threads N]
 *
 * Prints key=value lines:
 *   pwhash.memory_kib=M pwhash.iterations=T
 *   pwhash.seconds_per_hash=X          (one thread)
 *   pwhash.parallel_hashes_per_s=Y     (N threads)
 *   pwhash.threads=N
 */
#include "base/config.h"
#include "crypto/password.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct hasher {
	struct sr_password_params params;
	double until;
	unsigned long count;
	bool failed;
};

/* Hashes a fixed 32-byte input (what the pepper's HMAC hands Argon2id) with a
 * fresh salt each time, as crypto_pwhash_str does, until the deadline. */
static void *hash_loop(void *arg)
{
	struct hasher *h = arg;
	unsigned char in[32], salt[crypto_pwhash_SALTBYTES], out[32];
	randombytes_buf(in, sizeof in);
	do {
		randombytes_buf(salt, sizeof salt);
		if (crypto_pwhash(out, sizeof out, (const char *)in, sizeof in, salt,
				  h->params.iterations, (size_t)h->params.memory_kib * 1024u,
				  crypto_pwhash_ALG_ARGON2ID13) != 0) {
			h->failed = true;
			break;
		}
		h->count++;
	} while (now_s() < h->until);
	return NULL;
}

static int usage(void)
{
	fputs("usage: accounts_pwhash --config FILE [--seconds S] [--threads N]\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	double secs = 3;
	long threads = sysconf(_SC_NPROCESSORS_ONLN);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			secs = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = strtol(argv[++i], NULL, 10);
		else
			return usage();
	}
	if (config == NULL || secs <= 0 || threads < 1 || threads > 256)
		return usage();
	if (sodium_init() < 0) {
		fputs("accounts_pwhash: sodium_init failed\n", stderr);
		return 1;
	}
	struct sr_config *cfg = NULL;
	char err[512];
	if (sr_config_load(config, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "accounts_pwhash: %s\n", err);
		return 1;
	}
	struct sr_password_params params;
	sr_password_params_from_config(cfg, &params);
	sr_config_free(cfg);

	/* One thread: the "seconds per hash". */
	struct hasher one = {.params = params, .until = now_s() + secs};
	double t0 = now_s();
	hash_loop(&one);
	double one_elapsed = now_s() - t0;
	if (one.failed || one.count == 0) {
		fputs("accounts_pwhash: crypto_pwhash failed (out of memory?)\n", stderr);
		return 1;
	}

	/* All threads at once. */
	struct hasher *hs = calloc((size_t)threads, sizeof *hs);
	pthread_t *tids = calloc((size_t)threads, sizeof *tids);
	if (hs == NULL || tids == NULL)
		return 1;
	double until = now_s() + secs;
	t0 = now_s();
	for (long i = 0; i < threads; i++) {
		hs[i] = (struct hasher){.params = params, .until = until};
		if (pthread_create(&tids[i], NULL, hash_loop, &hs[i]) != 0)
			return 1;
	}
	unsigned long total = 0;
	bool failed = false;
	for (long i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		total += hs[i].count;
		failed |= hs[i].failed;
	}
	double par_elapsed = now_s() - t0;
	free(hs);
	free(tids);
	if (failed) {
		fputs("accounts_pwhash: crypto_pwhash failed in a thread\n", stderr);
		return 1;
	}
	printf("pwhash.memory_kib=%llu pwhash.iterations=%llu\n", params.memory_kib,
	       params.iterations);
	printf("pwhash.seconds_per_hash=%.6f\n", one_elapsed / (double)one.count);
	printf("pwhash.parallel_hashes_per_s=%.2f\n", (double)total / par_elapsed);
	printf("pwhash.threads=%ld\n", threads);
	return 0;
}
