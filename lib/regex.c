/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * regex: see regex.h. UTF-8 patterns, as Python 3's re works on str.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct sr_regex {
    pcre2_code *code;
};

sr_regex *sr_regex_new(const char *pattern, sr_err *err)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *compiled = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF,
                                         &code, &offset, NULL);
    if (compiled == NULL) {
        PCRE2_UCHAR why[256];
        pcre2_get_error_message(code, why, sizeof why);
        sr_err_set(err, SR_EINVAL, false, "bad regex \"%s\": %s at offset %zu", pattern,
                   (const char *)why, (size_t)offset);
        return NULL;
    }
    sr_regex *re = malloc(sizeof *re);
    if (re == NULL) {
        pcre2_code_free(compiled);
        sr_err_set(err, SR_ENOMEM, false, "out of memory compiling regex \"%s\"", pattern);
        return NULL;
    }
    re->code = compiled;
    return re;
}

void sr_regex_free(sr_regex *re)
{
    if (re == NULL)
        return;
    pcre2_code_free(re->code);
    free(re);
}

int sr_regex_match(const sr_regex *re, const char *subject, bool anchored, char **groups,
                   int group_max, int *group_count, size_t *start, size_t *end)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (md == NULL)
        return -1;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, 0,
                         anchored ? PCRE2_ANCHORED : 0, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) {
        pcre2_match_data_free(md);
        return 0;
    }
    if (rc < 0) {
        pcre2_match_data_free(md);
        return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (start)
        *start = ov[0];
    if (end)
        *end = ov[1];
    int n = 0;
    if (groups != NULL) {
        uint32_t captures = 0;
        pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &captures);
        for (uint32_t g = 1; g <= captures && n < group_max; g++) {
            const char *s = "";
            size_t len = 0;
            if ((int)g < rc && ov[2 * g] != PCRE2_UNSET) {
                s = subject + ov[2 * g];
                len = ov[2 * g + 1] - ov[2 * g];
            }
            groups[n] = strndup(s, len);
            if (groups[n] == NULL) {
                for (int i = 0; i < n; i++)
                    free(groups[i]);
                pcre2_match_data_free(md);
                return -1;
            }
            n++;
        }
    }
    if (group_count)
        *group_count = n;
    pcre2_match_data_free(md);
    return 1;
}
