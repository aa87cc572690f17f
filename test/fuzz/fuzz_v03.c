/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_v03: libFuzzer target for the v03 (JSON) decoder, sr's first contact with a
 * broker's bytes.
 *
 * Input: the bytes of one v03 body, as is.
 * Invariants checked (abort, so libFuzzer keeps the input as a crash):
 *   - whatever the bytes, decoding returns SR_OK with a message, or an error and NULL;
 *   - a message that decodes encodes to v03, and that encoding decodes again: sr never
 *     writes a v03 body its own decoder would refuse (relays pass on what they read);
 *   - encoding to v02 either works or fails with an error, never half-fills the result.
 * Memory errors, undefined behaviour and leaks are the sanitizers' to find.
 */
#include "message.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const sr_err *err)
{
    fprintf(stderr, "fuzz_v03: %s: %s\n", what, err->msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sr_message *m = NULL;
    sr_err err = {0};
    if (sr_message_decode_v03((const char *)data, size, &m, &err) != SR_OK) {
        if (m != NULL)
            fail("failed decode left a message behind", &err);
        return 0;
    }
    if (m == NULL)
        fail("decode returned SR_OK without a message", &err);

    sr_encoded v03 = {0};
    if (sr_message_encode(m, SR_FORMAT_V03, &v03, &err) != SR_OK)
        fail("a decoded message does not encode to v03", &err);
    sr_message *again = NULL;
    if (sr_message_decode_v03(v03.body, v03.body_len, &again, &err) != SR_OK)
        fail("sr's own v03 encoding does not decode", &err);
    sr_message_free(again);
    sr_encoded_fini(&v03);

    sr_encoded v02 = {0};
    if (sr_message_encode(m, SR_FORMAT_V02, &v02, &err) != SR_OK && v02.body != NULL)
        fail("failed v02 encoding left a body behind", &err);
    sr_encoded_fini(&v02);

    sr_message_free(m);
    return 0;
}
