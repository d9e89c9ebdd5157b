/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers the notification tests share: a temporary folder, the real test
 * servers of tests/tools/ (started on a free loopback port they report as
 * "PORT n", stopped with SIGTERM), running a tool and reading files.
 * Debian's /usr/bin/python3 is used on purpose: it is the one that has
 * python3-aiosmtpd and python3-dkim.
 */
#ifndef SR_TESTS_NOTIFY_TEST_H
#define SR_TESTS_NOTIFY_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NT_PYTHON "/usr/bin/python3"

static const char *nt_tool(const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];
	const char *src = getenv("SR_SOURCE_DIR");
	snprintf(p, sizeof buf[0], "%s/tests/tools/%s", src ? src : SR_SOURCE_DIR, name);
	return p;
}

static __attribute__((unused)) void nt_mkdtemp(char *dir, size_t len, const char *what)
{
	snprintf(dir, len, "/tmp/sr-test-%s-XXXXXX", what);
	assert_non_null(mkdtemp(dir));
}

static __attribute__((unused)) void nt_rmrf(const char *dir)
{
	char cmd[600];
	/* Test-only cleanup of a mkdtemp folder; src/ never shells out. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Starts `python3 TOOL args...` with stdout on a pipe; returns its port once
 * it prints "PORT n" (10 s at most), its pid in *pid. */
static __attribute__((unused)) int nt_start(const char *tool, const char *const *args, pid_t *pid)
{
	int fds[2];
	const char *argv[16] = {NT_PYTHON, nt_tool(tool)};
	size_t n = 2;
	for (; args[n - 2] != NULL && n < 15; n++)
		argv[n] = args[n - 2];
	argv[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		/* A test that crashes must not leave its server behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(NT_PYTHON, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	char line[64] = "";
	size_t got = 0;
	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	while (got < sizeof line - 1 && strchr(line, '\n') == NULL) {
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		line[got] = '\0';
	}
	close(fds[0]);
	int port = 0;
	if (sscanf(line, "PORT %d", &port) != 1 || port <= 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		fail_msg("%s did not start (said '%s')", tool, line);
	}
	return port;
}

static __attribute__((unused)) void nt_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	int st;
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Runs python3 TOOL args... with its stdout into out (if not NULL);
 * returns its exit status. */
static __attribute__((unused)) int nt_run(const char *tool, const char *const *args, char *out,
					  size_t outlen)
{
	int fds[2];
	const char *argv[16] = {NT_PYTHON, nt_tool(tool)};
	size_t n = 2;
	for (; args[n - 2] != NULL && n < 15; n++)
		argv[n] = args[n - 2];
	argv[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(NT_PYTHON, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	size_t got = 0;
	char sink[256];
	for (;;) {
		char *dst = out != NULL && got + 1 < outlen ? out + got : sink;
		size_t room = out != NULL && got + 1 < outlen ? outlen - 1 - got : sizeof sink;
		ssize_t r = read(fds[0], dst, room);
		if (r <= 0)
			break;
		if (dst != sink)
			got += (size_t)r;
	}
	if (out != NULL)
		out[got] = '\0';
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The whole file, NUL-terminated (caller frees); NULL if missing. */
static char *nt_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);
	size_t r;
	while ((r = fread(p + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n - 1 == 0)
			p = realloc(p, cap *= 2);
	}
	fclose(f);
	p[n] = '\0';
	if (len != NULL)
		*len = n;
	return p;
}

static __attribute__((unused)) void nt_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

#endif
