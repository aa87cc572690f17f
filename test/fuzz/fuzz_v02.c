/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_v02: libFuzzer target for the v02 decoder: the text body and the AMQP headers a
 * v02 message is made of.
 *
 * Input scheme (so the fuzzer mutates the body and the headers alike):
 *   BODY NUL HEADERS
 *   BODY     every byte before the first NUL byte, newlines included (sarrac ends its
 *            body with one); the whole input when there is no NUL
 *   HEADERS  one header per '\n'-terminated line (the last may lack the '\n'): the name
 *            is the text before the first '=', the value the text after it; a line
 *            without '=' is a header with that name and an empty value. At most
 *            MAX_HEADERS lines are read, the rest ignored.
 * The wire's content type is "text/plain" (so the v02 decoder runs whatever the body
 * looks like), with no topic. test/fuzz/make-corpus.sh writes the golden .v02 files in
 * this scheme.
 *
 * The body is copied to a buffer of exactly its length, so a decoder that reads past
 * body_len (expecting a NUL) is caught by AddressSanitizer.
 *
 * Invariants checked (abort): decoding returns a message or an error and NULL; a
 * message that decodes encodes to v03 and that encoding decodes again (sr3 converts
 * v02 to v03 on every relay); encoding back to v02 works or fails cleanly.
 */
#include "message.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const sr_err *err)
{
    fprintf(stderr, "fuzz_v02: %s: %s\n", what, err->msg);
    abort();
}

/* Split the text after the NUL into headers; names and values point into text, which
 * is modified (each '=' and '\n' becomes a NUL). Returns the header count. */
static size_t split_headers(char *text, size_t len, sr_header *headers)
{
    size_t n = 0;
    char *p = text, *end = text + len;
    while (p < end && n < MAX_HEADERS) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        *line_end = '\0'; /* text has one spare byte past len for the last line */
        char *eq = memchr(p, '=', (size_t)(line_end - p));
        if (eq != NULL) {
            *eq = '\0';
            headers[n++] = (sr_header){p, eq + 1};
        } else {
            headers[n++] = (sr_header){p, line_end};
        }
        p = line_end + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t body_len = nul ? (size_t)(nul - data) : size;
    size_t rest_len = nul ? size - body_len - 1 : 0;

    char *body = malloc(body_len ? body_len : 1);
    char *rest = malloc(rest_len + 1);
    if (body == NULL || rest == NULL) {
        free(body);
        free(rest);
        return 0;
    }
    memcpy(body, data, body_len);
    if (rest_len > 0)
        memcpy(rest, nul + 1, rest_len);
    rest[rest_len] = '\0';
    sr_header headers[MAX_HEADERS];
    size_t header_count = split_headers(rest, rest_len, headers);

    sr_wire wire = {
        .body = body,
        .body_len = body_len,
        .content_type = "text/plain",
        .headers = header_count ? headers : NULL,
        .header_count = header_count,
    };
    sr_message *m = NULL;
    sr_err err = {0};
    if (sr_message_decode(&wire, &m, &err) != SR_OK) {
        if (m != NULL)
            fail("failed decode left a message behind", &err);
        goto done;
    }
    if (m == NULL)
        fail("decode returned SR_OK without a message", &err);

    sr_encoded v03 = {0};
    if (sr_message_encode(m, SR_FORMAT_V03, &v03, &err) != SR_OK)
        fail("a decoded v02 message does not encode to v03", &err);
    sr_message *again = NULL;
    if (sr_message_decode_v03(v03.body, v03.body_len, &again, &err) != SR_OK)
        fail("the v03 encoding of a v02 message does not decode", &err);
    sr_message_free(again);
    sr_encoded_fini(&v03);

    sr_encoded v02 = {0};
    if (sr_message_encode(m, SR_FORMAT_V02, &v02, &err) != SR_OK && v02.body != NULL)
        fail("failed v02 encoding left a body behind", &err);
    sr_encoded_fini(&v02);
    sr_message_free(m);
done:
    free(body);
    free(rest);
    return 0;
}
