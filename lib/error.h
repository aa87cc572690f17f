/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * error: how libsr reports a failure to its caller.
 *
 * A function that can fail returns an int (SR_OK or one of the codes below) and fills an
 * sr_err the caller passed in. The message says what failed and on what (file:line, URL,
 * field), so the one place that logs it needs to add only the config and instance.
 * Nothing in lib/ logs an error it also returns, and nothing in lib/ exits.
 */
#ifndef SR_ERROR_H
#define SR_ERROR_H

#include <stdbool.h>
#include <stddef.h>

enum sr_code {
    SR_OK = 0,
    SR_EINVAL,   /* bad input: a value, a field, a file's content */
    SR_ENOENT,   /* something named does not exist */
    SR_EIO,      /* an OS call failed; errno's text is in the message */
    SR_ENOMEM,   /* an allocation failed */
    SR_ELOOP,    /* an include loop, or a limit on nesting */
    SR_EPERM,    /* permissions */
    SR_EPROTO,   /* a peer broke the protocol */
    SR_ECONN,    /* a connection failed or was lost */
    SR_EREFUSED, /* refused for safety: a path that would leave its root, a symbolic link
                  * met, what a message may not ask for (sr-security(7)); never retryable */
};

/* Longest error text kept; longer messages are cut, never overrun. */
#define SR_ERR_MSG_MAX 512

typedef struct sr_err {
    int code;       /* enum sr_code */
    bool retryable; /* would trying again later help? */
    char msg[SR_ERR_MSG_MAX];
} sr_err;

/* Fill err (when not NULL) and return code, so callers can write
 * `return sr_err_set(err, SR_EINVAL, false, "%s:%d: ...", ...);` */
int sr_err_set(sr_err *err, int code, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Put "prefix: " in front of the message already in err (for adding context upward). */
void sr_err_prefix(sr_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset err to SR_OK with an empty message. */
void sr_err_clear(sr_err *err);

/* How an error message shows a value that may come from outside (a message, a config):
 * in double quotes, cut after SR_QUOTE_MAX bytes with "...", control characters as '?'.
 * buf should hold SR_QUOTE_BUF bytes; returns buf. */
#define SR_QUOTE_MAX 64
#define SR_QUOTE_BUF (SR_QUOTE_MAX + 8)
const char *sr_err_quote(const char *text, char *buf, size_t size);
/* The same for len bytes that need not end with a NUL (a message body off the wire). */
const char *sr_err_quote_n(const char *text, size_t len, char *buf, size_t size);

/* A short name for a code ("invalid", "not found", ...), for logs and tests. */
const char *sr_code_name(int code);

#endif
