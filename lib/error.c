/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * error: fill and extend sr_err. See error.h for the convention.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sr_err_set(sr_err *err, int code, bool retryable, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->retryable = retryable;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void sr_err_prefix(sr_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char joined[SR_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, sizeof joined, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n < sizeof joined ? (size_t)n : sizeof joined - 1;
    size_t room = sizeof joined - used;
    size_t msglen = strnlen(err->msg, sizeof err->msg);
    /* Append ": " and the old message, cut to what fits. */
    if (room > 2) {
        memcpy(joined + used, ": ", 2);
        used += 2;
        room -= 2;
        size_t take = msglen < room - 1 ? msglen : room - 1;
        memcpy(joined + used, err->msg, take);
        used += take;
    }
    joined[used] = '\0';
    memcpy(err->msg, joined, sizeof err->msg);
}

void sr_err_clear(sr_err *err)
{
    if (err == NULL)
        return;
    err->code = SR_OK;
    err->retryable = false;
    err->msg[0] = '\0';
}

const char *sr_code_name(int code)
{
    switch (code) {
    case SR_OK:
        return "ok";
    case SR_EINVAL:
        return "invalid";
    case SR_ENOENT:
        return "not found";
    case SR_EIO:
        return "i/o error";
    case SR_ENOMEM:
        return "out of memory";
    case SR_ELOOP:
        return "loop";
    case SR_EPERM:
        return "permission denied";
    case SR_EPROTO:
        return "protocol error";
    case SR_ECONN:
        return "connection error";
    case SR_EREFUSED:
        return "refused";
    }
    return "unknown error";
}

const char *sr_err_quote(const char *text, char *buf, size_t size)
{
    return sr_err_quote_n(text, strlen(text), buf, size);
}

const char *sr_err_quote_n(const char *text, size_t len, char *buf, size_t size)
{
    size_t take = len < SR_QUOTE_MAX ? len : SR_QUOTE_MAX, o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < take && o + 5 < size; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c; /* NUL included */
    }
    if (take < len && o + 5 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
