/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_wnm_tool: sr's verdict on a WIS2 Notification Message in a file, and what sr writes
 * from it, for test/integration/test_wnm_schema.py to hold beside a JSON Schema validator.
 * Usage:
 *   sr_wnm_tool check FILE       prints OK, or the error sr refuses it with (exit 1)
 *   sr_wnm_tool roundtrip FILE   reads it as sr reads a message off the wire, writes it
 *                                again as a WNM and prints that body (exit 1 on an error)
 * FILE is one body, read as it would come without a content type (MQTT 3.1.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

/* The whole file (the body limit and a byte more, so that a longer one is refused). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(SR_MSG_BODY_MAX + 2);
    if (buf != NULL) {
        *len = fread(buf, 1, SR_MSG_BODY_MAX + 1, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "roundtrip") != 0)) {
        fprintf(stderr, "usage: sr_wnm_tool check|roundtrip FILE\n");
        return 2;
    }
    size_t len = 0;
    char *body = read_file(argv[2], &len);
    if (body == NULL) {
        perror(argv[2]);
        return 2;
    }
    sr_wire wire = {body, len, NULL, NULL, NULL, 0};
    sr_message *m = NULL;
    sr_err err = {0};
    int rc = sr_message_decode(&wire, &m, &err);
    sr_encoded out = {0};
    if (rc == SR_OK && strcmp(argv[1], "roundtrip") == 0)
        rc = sr_message_encode(m, SR_FORMAT_WIS, &out, &err);
    if (rc != SR_OK)
        printf("%s\n", err.msg);
    else if (out.body != NULL)
        printf("%s\n", out.body);
    else
        printf("OK\n");
    sr_encoded_fini(&out);
    sr_message_free(m);
    free(body);
    return rc == SR_OK ? 0 : 1;
}
