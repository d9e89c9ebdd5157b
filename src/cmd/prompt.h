/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CMD_PROMPT_H
#define SR_CMD_PROMPT_H

/*
 * Reading a secret (a password, a KEK share) for a CLI command: from the
 * terminal with echo off, or, when stdin is not a terminal, one line from
 * stdin (a pipe from a password manager or a script). Never from an
 * argument, where ps and shell history would keep it.
 */
#include <stdbool.h>
#include <stddef.h>

/*
 * Reads one line into buf (the caller's sodium memory of cap bytes), byte
 * by byte from the file descriptor so that no stdio buffer keeps a copy,
 * without its newline (and a trailing CR). On a terminal it prints prompt on
 * stderr only once echo is off, keeps Ctrl-C from leaving echo off, and
 * ends the line after the hidden input. Returns the length, or -1: end of
 * input before a line, a read or terminal error, or a line of cap bytes or
 * more (buf is wiped then).
 */
long sr_cmd_read_secret(const char *prompt, char *buf, size_t cap);

/* Whether sr_cmd_read_secret would prompt on a terminal. */
bool sr_cmd_secret_from_tty(void);

#endif
