/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * buf: small byte-level helpers several modules need: a growable buffer, a string
 * formatted into new memory, a write that finishes, the value of a hex digit. One copy here
 * instead of one per module.
 */
#ifndef SR_BUF_H
#define SR_BUF_H

#include <stdbool.h>
#include <stddef.h>

/* A growable byte buffer; zero-initialise it ({0}), free p when done. */
typedef struct sr_buf {
    char *p;
    size_t len, cap;
} sr_buf;

/* Room for `more` bytes after len (keeps one more for a NUL). False when out of memory. */
bool sr_buf_reserve(sr_buf *b, size_t more);
/* Append n bytes and keep the buffer NUL-terminated. False when out of memory. */
bool sr_buf_add(sr_buf *b, const void *data, size_t n);
bool sr_buf_str(sr_buf *b, const char *s);
/* Append n bytes with '%', space and the bytes below 0x20 or 0x7f written %XX (upper-case
 * hex), so that any text is one word of a line: the key escaping of the files of nodupe.h
 * and seen.h. False when out of memory. */
bool sr_buf_add_escaped(sr_buf *b, const char *s, size_t n);
/* Append printf-style text. False when out of memory or the format fails. */
bool sr_buf_printf(sr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sr_buf_free(sr_buf *b);

/* printf into a new string the caller frees (asprintf without its undefined pointer on
 * failure). NULL when out of memory or the format fails. */
char *sr_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* write(2) all n bytes, through short writes and EINTR. False on an error (errno set). */
bool sr_write_all(int fd, const void *data, size_t n);

/* 0..15 for a hex digit (either case), -1 otherwise. */
int sr_hex_value(char c);

#endif
