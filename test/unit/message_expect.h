/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * message_expect.h: what the message tests (v03/v02 and WIS2) both check a decoded
 * message's string fields with. Include after unit.h.
 */
#ifndef SR_MESSAGE_EXPECT_H
#define SR_MESSAGE_EXPECT_H

#include "message.h"

/* field is want, or absent when want is NULL; the failure says what it is instead. */
static inline void expect_str(const sr_message *m, const char *field, const char *want)
{
    const char *got = sr_message_str(m, field);
    if (want == NULL) {
        if (got != NULL)
            fail_msg("%s is \"%s\", expected absent", field, got);
        return;
    }
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s is \"%s\", expected \"%s\"", field, got ? got : "(absent)", want);
}

#endif
