/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gen_options_man: print the roff page sr-options(7) from the option table.
 *
 *     gen_options_man OPTIONS_DEF CONFD_DIR > sr-options.7
 *
 * Everything the page says about an option comes from one of two places, so the page
 * cannot drift from the code:
 *  - the compiled table in libsr (name, type, choices, components, help, aliases, the
 *    aliases that set a value, the sr3 options sr ignores), through options.h;
 *  - the defaults, loaded by the library's own config loader once per component (the
 *    table's defaults, then CONFD_DIR/<component>.conf), so each default is the value a
 *    component really starts with and names the conf.d file when one changes it.
 * OPTIONS_DEF itself is read as text only for its section comments
 * (`/ * ---- title ---- * /`), which the preprocessor cannot see. An option of the
 * compiled table missing from that file, or the reverse, is an error: the build is stale.
 *
 * The date on the page is SOURCE_DATE_EPOCH when set (reproducible builds), else the
 * newest modification time of the files read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "options.h"

#ifndef SR_VERSION
#define SR_VERSION "unknown"
#endif


/* Longest section title and number of sections in options.def. */
#define TITLE_MAX 128
#define SECTIONS_MAX 32

typedef struct section {
    char title[TITLE_MAX];
} section;

typedef struct layout {
    section sections[SECTIONS_MAX];
    int count;
    int section_of[SR_OPT_COUNT]; /* -1 until the option's SR_OPTION line is seen */
} layout;

static const char *prog = "gen_options_man";

static time_t newest; /* newest mtime of the files read */

static void note_mtime(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && st.st_mtime > newest)
        newest = st.st_mtime;
}

/* ---------------------------------------------------------------------------------- */
/* roff output                                                                         */

/* Write text for a roff text line: backslashes escaped, a leading '.' or '\'' made
 * harmless, `code` in bold, and '-' as a minus sign where literal (code, values). */
static void put_text(FILE *out, const char *s, bool literal)
{
    bool code = false;
    bool line_start = true;
    for (; *s; s++) {
        if (line_start && (*s == '.' || *s == '\''))
            fputs("\\&", out);
        line_start = false;
        switch (*s) {
        case '\\':
            fputs("\\e", out);
            break;
        case '`':
            fputs(code ? "\\fR" : "\\fB", out);
            code = !code;
            break;
        case '-':
            fputs(literal || code ? "\\-" : "-", out);
            break;
        default:
            fputc(*s, out);
        }
    }
    if (code)
        fputs("\\fR", out);
}

/* Text for the start of a roff line. */
static void put_line(FILE *out, const char *s)
{
    put_text(out, s, false);
    fputc('\n', out);
}

static void put_bold(FILE *out, const char *s)
{
    fputs("\\fB", out);
    put_text(out, s, true);
    fputs("\\fR", out);
}

/* ---------------------------------------------------------------------------------- */
/* sections from options.def                                                           */

static int read_layout(const char *path, layout *lay)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    note_mtime(path);
    memset(lay, 0, sizeof *lay);
    for (int i = 0; i < SR_OPT_COUNT; i++)
        lay->section_of[i] = -1;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    static const char head[] = "/* ---- ", tail[] = " ---- */";
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        size_t len = strlen(line);
        if (strncmp(line, head, sizeof head - 1) == 0 && len > sizeof head + sizeof tail &&
            strcmp(line + len - (sizeof tail - 1), tail) == 0) {
            if (lay->count == SECTIONS_MAX) {
                fprintf(stderr, "%s: %s:%d: more than %d sections\n", prog, path, lineno,
                        SECTIONS_MAX);
                rc = -1;
                break;
            }
            section *s = &lay->sections[lay->count++];
            snprintf(s->title, sizeof s->title, "%.*s",
                     (int)(len - (sizeof head - 1) - (sizeof tail - 1)), line + sizeof head - 1);
            continue;
        }
        if (strncmp(line, "SR_OPTION(", 10) != 0)
            continue;
        const char *name = line + 10;
        size_t nlen = strcspn(name, ", )");
        sr_option_match m = {-1, NULL, NULL, NULL};
        char buf[64] = "";
        if (nlen < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s", (int)nlen, name);
            m = sr_option_lookup(buf);
        }
        if (m.id < 0 || m.forced != NULL || strcmp(sr_option_get(m.id)->name, buf) != 0) {
            fprintf(stderr,
                    "%s: %s:%d: option \"%.*s\" is not in the compiled table "
                    "(rebuild libsr)\n",
                    prog, path, lineno, (int)nlen, name);
            rc = -1;
        } else if (lay->count == 0) {
            fprintf(stderr, "%s: %s:%d: option before the first section comment\n", prog, path,
                    lineno);
            rc = -1;
        } else {
            lay->section_of[m.id] = lay->count - 1;
        }
    }
    free(line);
    fclose(f);
    for (int i = 0; rc == 0 && i < SR_OPT_COUNT; i++) {
        if (lay->section_of[i] < 0) {
            fprintf(stderr,
                    "%s: option \"%s\" of the compiled table is not in %s (rebuild libsr)\n", prog,
                    sr_option_get(i)->name, path);
            rc = -1;
        }
    }
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* defaults from conf.d                                                                */

/* What one component starts with for one option. */
typedef struct start_value {
    char *value;      /* the default, NULL when the option starts unset */
    const char *file; /* basename of the conf.d file that sets it, NULL when the table does */
    bool table;       /* the option table's default (options.def) */
    bool derived;     /* computed at load time from other values */
} start_value;

typedef struct defaults {
    sr_config *configs[SR_COMPONENT_COUNT];
    start_value v[SR_OPT_COUNT][SR_COMPONENT_COUNT];
} defaults;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int load_defaults(const char *confd, defaults *d)
{
    memset(d, 0, sizeof *d);
    for (int c = 0; c < SR_COMPONENT_COUNT; c++) {
        enum sr_component comp = sr_component_at(c);
        /* No config folder and no config: the defaults alone, as every component starts. */
        sr_config_request req = {comp, NULL, NULL, confd, NULL, 0};
        sr_err err;
        if (sr_config_load(&req, &d->configs[c], &err) != SR_OK) {
            fprintf(stderr, "%s: %s defaults: %s\n", prog, sr_component_name(comp), err.msg);
            return -1;
        }
        const sr_strlist *w = sr_config_warnings(d->configs[c]);
        for (size_t i = 0; i < w->count; i++)
            fprintf(stderr, "%s: warning: %s\n", prog, w->items[i]);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.conf", confd, sr_component_name(comp));
        note_mtime(path);
        for (int id = 0; id < SR_OPT_COUNT; id++) {
            const sr_value *val = sr_config_value(d->configs[c], id);
            start_value *sv = &d->v[id][c];
            if (val->origin.kind == SR_ORIGIN_DERIVED) {
                sv->derived = true;
            } else if (val->set && (val->origin.kind == SR_ORIGIN_CONFD ||
                                    val->origin.kind == SR_ORIGIN_DEFAULT)) {
                sv->table = val->origin.kind == SR_ORIGIN_DEFAULT;
                sv->file = sv->table ? NULL : base_name(val->origin.file);
                sv->value = sr_option_get(id)->type == SR_T_LIST
                                ? sr_strlist_join(&val->list, " ")
                                : strdup(val->text ? val->text : "");
                if (sv->value == NULL) {
                    fprintf(stderr, "%s: out of memory\n", prog);
                    return -1;
                }
            }
        }
    }
    return 0;
}

static void free_defaults(defaults *d)
{
    for (int id = 0; id < SR_OPT_COUNT; id++)
        for (int c = 0; c < SR_COMPONENT_COUNT; c++)
            free(d->v[id][c].value);
    for (int c = 0; c < SR_COMPONENT_COUNT; c++)
        sr_config_free(d->configs[c]);
}

static bool same_str(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/*
 * "Default:" for one option, over the components it applies to. Components starting with
 * the same value form a group. The rule is written first, without naming components: the
 * group holding the table's default, else the group left unset. The others follow as
 * "VALUE for a, b (files)", e.g.
 *     Default: 0.1; -1 for post (conf.d/post.conf); 5 for watch (conf.d/watch.conf)
 */
static void put_default(FILE *out, const defaults *d, int id)
{
    const sr_option *opt = sr_option_get(id);
    int group[SR_COMPONENT_COUNT];
    int groups = 0;
    int first_of[SR_COMPONENT_COUNT] = {0};
    for (int c = 0; c < SR_COMPONENT_COUNT; c++) {
        group[c] = -1;
        if ((opt->components & sr_component_at(c)) == 0)
            continue;
        for (int g = 0; g < groups; g++) {
            const start_value *a = &d->v[id][first_of[g]], *b = &d->v[id][c];
            if (same_str(a->value, b->value) && a->derived == b->derived && a->table == b->table) {
                group[c] = g;
                break;
            }
        }
        if (group[c] < 0) {
            first_of[groups] = c;
            group[c] = groups++;
        }
    }
    /* The rule goes first: the group holding the table's default, else the components
     * left unset. */
    int lead = -1;
    for (int c = 0; c < SR_COMPONENT_COUNT && lead < 0; c++)
        if (group[c] >= 0 && d->v[id][c].table)
            lead = group[c];
    for (int c = 0; c < SR_COMPONENT_COUNT && lead < 0; c++)
        if (group[c] >= 0 && d->v[id][c].value == NULL && !d->v[id][c].derived)
            lead = group[c];

    fputs("Default: ", out);
    for (int pass = 0; pass < 2; pass++) {
        for (int g = 0; g < groups; g++) {
            if ((pass == 0) != (g == lead))
                continue;
            const start_value *sv = &d->v[id][first_of[g]];
            if (g != (lead >= 0 ? lead : 0))
                fputs("; ", out);
            if (sv->value != NULL) {
                put_bold(out, sv->value[0] ? sv->value : "\"\"");
            } else if (sv->derived) {
                fputs("derived when the config is read (see above)", out);
            } else {
                fputs("none (unset)", out);
            }
            if (g != lead && groups > 1) {
                fputs(" for ", out);
                bool first = true;
                for (int c = 0; c < SR_COMPONENT_COUNT; c++) {
                    if (group[c] != g)
                        continue;
                    fprintf(out, "%s%s", first ? "" : ", ", sr_component_name(sr_component_at(c)));
                    first = false;
                }
            }
            if (sv->value != NULL && !sv->table) {
                /* the conf.d files that set it, each once */
                fputs(" (", out);
                bool first = true;
                for (int c = 0; c < SR_COMPONENT_COUNT; c++) {
                    if (group[c] != g || d->v[id][c].file == NULL)
                        continue;
                    bool seen = false;
                    for (int k = 0; k < c; k++)
                        seen =
                            seen || (group[k] == g && same_str(d->v[id][k].file, d->v[id][c].file));
                    if (seen)
                        continue;
                    fprintf(out, "%sconf.d/%s", first ? "" : ", ", d->v[id][c].file);
                    first = false;
                }
                fputs(")", out);
            }
        }
    }
    fputs("\n", out);
}

/* ---------------------------------------------------------------------------------- */
/* the page                                                                            */

static void put_components(FILE *out, unsigned mask)
{
    fputs("Components: ", out);
    if (mask == SR_C_ALL) {
        fputs("all\n", out);
        return;
    }
    bool first = true;
    for (int c = 0; c < SR_COMPONENT_COUNT; c++) {
        if ((mask & sr_component_at(c)) == 0)
            continue;
        fprintf(out, "%s%s", first ? "" : ", ", sr_component_name(sr_component_at(c)));
        first = false;
    }
    fputs("\n", out);
}

/* "a,b,c" as "a, b, c" in bold. */
static void put_choices(FILE *out, const char *choices)
{
    char *copy = strdup(choices);
    if (copy == NULL)
        return;
    char *save = NULL;
    bool first = true;
    for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (!first)
            fputs(", ", out);
        char *other = strchr(w, '|'); /* "warning|warn": warning (or warn) */
        if (other != NULL)
            *other++ = '\0';
        put_bold(out, w);
        if (other != NULL) {
            fputs(" (or ", out);
            put_bold(out, other);
            fputs(")", out);
        }
        first = false;
    }
    free(copy);
}

/* Does the option's help start with its own syntax ("accept REGEX: ...", "declare env
 * NAME=VALUE | ...")? Then the first word is the option's name and keeps its case. */
static bool help_shows_syntax(const sr_option *opt)
{
    switch (opt->type) {
    case SR_T_MASK:
    case SR_T_HEADER:
    case SR_T_DECLARE:
    case SR_T_INCLUDE:
    case SR_T_CLASSSET:
    case SR_T_CALLBACK:
    case SR_T_V2PLUGIN: {
        size_t n = strlen(opt->name);
        return strncmp(opt->help, opt->name, n) == 0 && opt->help[n] == ' ';
    }
    default:
        return false;
    }
}

/* Make a help line a sentence: a capital first letter and a full stop. A first word that
 * is a name keeps its spelling: camelCase or snake_case (relPath, from_cluster), with
 * digits (v2), or "sr"; keep_case says the caller knows it is one. */
static void sentence(char *text, size_t size, bool keep_case)
{
    size_t word = 0;
    bool plain = true;
    while ((text[word] >= 'a' && text[word] <= 'z') || (text[word] >= 'A' && text[word] <= 'Z') ||
           (text[word] >= '0' && text[word] <= '9') || text[word] == '_') {
        plain = plain && text[word] >= 'a' && text[word] <= 'z';
        word++;
    }
    bool is_sr = word == 2 && strncmp(text, "sr", 2) == 0;
    if (word > 0 && plain && !is_sr && !keep_case)
        text[0] = (char)(text[0] - 'a' + 'A');
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] != '.' && len + 1 < size) {
        text[len] = '.';
        text[len + 1] = '\0';
    }
}

static void put_option(FILE *out, const defaults *d, int id)
{
    const sr_option *opt = sr_option_get(id);
    fputs(".TP\n", out);
    put_bold(out, opt->name);
    fputs(" \\fI", out);
    put_text(out, sr_type_name(opt->type), false);
    fputs("\\fR\n", out);

    char help[512];
    snprintf(help, sizeof help, "%s", opt->help);
    sentence(help, sizeof help, help_shows_syntax(opt));
    put_line(out, help);

    if (opt->type == SR_T_ENUM || opt->type == SR_T_SET) {
        fputs(".br\n", out);
        fputs(opt->type == SR_T_ENUM ? "One of: " : "Any of: ", out);
        put_choices(out, opt->extra);
        fputs(opt->type == SR_T_SET ? " (or \\fBall\\fR, \\fBNone\\fR; \\fB+\\fIx,y\\fR adds "
                                      "them, \\fB\\-\\fIx,y\\fR removes them)\n"
                                    : "\n",
              out);
    } else if (opt->type == SR_T_DURATION && opt->extra[0] != '\0') {
        fputs(".br\n", out);
        fputs("A bare \\fBon\\fR (or \\fBtrue\\fR, \\fByes\\fR) means ", out);
        put_bold(out, opt->extra);
        fputs(" seconds.\n", out);
    }

    char aliases[1024];
    sr_option_aliases(id, aliases, sizeof aliases);
    bool any_forced = false;
    const char *alias, *value;
    enum sr_option_id target;
    for (size_t i = 0; sr_option_value_alias_at(i, &alias, &target, &value); i++)
        any_forced = any_forced || (int)target == id;
    if (aliases[0] != '\0' || any_forced) {
        fputs(".br\n", out);
        fputs("Also written: ", out);
        bool first = true;
        char *save = NULL;
        for (char *a = strtok_r(aliases, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
            if (!first)
                fputs(", ", out);
            put_bold(out, a);
            first = false;
        }
        for (size_t i = 0; sr_option_value_alias_at(i, &alias, &target, &value); i++) {
            if ((int)target != id)
                continue;
            if (!first)
                fputs(", ", out);
            put_bold(out, alias);
            fputs(" (means ", out);
            put_bold(out, opt->name);
            fputs(" ", out);
            put_bold(out, value);
            fputs(")", out);
            first = false;
        }
        fputs("\n", out);
    }

    if (!sr_type_is_line(opt->type)) { /* lines have no default value */
        fputs(".br\n", out);
        put_default(out, d, id);
    }
    fputs(".br\n", out);
    put_components(out, opt->components);
}

static void put_header(FILE *out)
{
    time_t when = newest;
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde != NULL && sde[0] != '\0') {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (*end == '\0' && v >= 0)
            when = (time_t)v;
    }
    struct tm tm;
    gmtime_r(&when, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    fprintf(out,
            ".\\\" Generated by tools/gen_options_man.c from lib/options.def and conf.d/.\n"
            ".\\\" Do not edit: change the option table or the conf.d files instead.\n"
            ".TH SR-OPTIONS 7 \"%s\" \"sr %s\" \"sr manual\"\n",
            date, SR_VERSION);
    fputs(
        ".SH NAME\n"
        "sr-options \\- every option of the sr configuration files\n"
        ".SH DESCRIPTION\n"
        "This page lists every option sr knows, from the same table the configuration\n"
        "parser, \\fBsr show\\fR and the components' \\fB\\-\\-help\\fR use.\n"
        "An option is written in a configuration file as\n"
        ".RS\n"
        ".EX\n"
        "name value\n"
        ".EE\n"
        ".RE\n"
        "and on the command line of \\fBsr\\fR or a component as\n"
        "\\fB\\-\\-\\fIname value\\fR (or \\fB\\-\\-\\fIname\\fB=\\fIvalue\\fR);\n"
        "a flag given without a value is \\fBon\\fR.\n"
        "Names are case sensitive.\n"
        "The file syntax, the order in which files are read and the value syntaxes\n"
        "are described in\n"
        ".BR sr-config (5).\n"
        ".PP\n"
        "Each entry gives the option's name and value type, what it does, other\n"
        "spellings sr accepts for it (sr3 and v2 names), the value each component\n"
        "starts with (and the conf.d file that changes it, if one does), and the\n"
        "components in which the option has an effect.\n"
        "Setting an option in a configuration of a component it does not apply to is\n"
        "allowed, with a warning.\n"
        ".PP\n"
        "Each default is written once, in the option table, and applied when a\n"
        "configuration is read, before anything else; the shipped file\n"
        "\\fIconf.d/\\fIcomponent\\fI.conf\\fR then changes what one component starts\n"
        "with (its name follows the value).\n"
        "\\fIconf.d/default.conf\\fR lists the table's defaults in configuration syntax;\n"
        "sr does not read it.\n"
        "\\fBnone\\fR means the option starts unset, unless the help above says how it\n"
        "is derived.\n"
        "\\fBsr show\\fR prints the value in force for a configuration and where it\n"
        "came from.\n"
        ".PP\n"
        "The value types are:\n"
        ".TP\n"
        "\\fIflag\\fR\n"
        "\\fBon\\fR, \\fBoff\\fR, \\fBtrue\\fR, \\fBfalse\\fR, \\fByes\\fR, \\fBno\\fR,\n"
        "\\fB1\\fR, \\fB0\\fR, in any case; the name alone means \\fBon\\fR.\n"
        "Any other word is an error.\n"
        ".TP\n"
        "\\fIduration\\fR\n"
        "Seconds, possibly fractional or negative, with an optional unit\n"
        "\\fBs\\fR, \\fBm\\fR, \\fBh\\fR, \\fBd\\fR or \\fBw\\fR; units combine (\\fB1h30m\\fR).\n"
        "\\fBoff\\fR, \\fBno\\fR, \\fBfalse\\fR and \\fBNone\\fR mean 0.\n"
        ".TP\n"
        "\\fIcount\\fR, \\fIsize\\fR\n"
        "A whole number with an optional \\fBk\\fR, \\fBm\\fR, \\fBg\\fR or \\fBt\\fR\n"
        "(powers of 1000); adding \\fBi\\fR or \\fBb\\fR (\\fB1ki\\fR, \\fB1kb\\fR) makes\n"
        "them powers of 1024.\n"
        ".TP\n"
        "\\fInumber\\fR\n"
        "A decimal number.\n"
        ".TP\n"
        "\\fIoctal\\fR\n"
        "Permission bits, one to four octal digits (\\fB644\\fR, \\fB0755\\fR).\n"
        ".TP\n"
        "\\fIstring\\fR, \\fIurl\\fR\n"
        "The rest of the line; the last one read wins; \\fBNone\\fR unsets it.\n"
        "A URL must parse (scheme, host, port); its password is never shown.\n"
        ".TP\n"
        "\\fIchoice\\fR, \\fIset\\fR\n"
        "One of the listed words, or (set) a comma separated list of them.\n"
        ".TP\n"
        "\\fIlist\\fR\n"
        "Each line adds one value; \\fBNone\\fR empties the list.\n"
        ".TP\n"
        "\\fIidentity\\fR\n"
        "A checksum method: \\fBsha512\\fR, \\fBmd5\\fR, \\fBcod,sha512\\fR,\n"
        "\\fBcod,md5\\fR, \\fBmd5name\\fR, \\fBrandom\\fR, \\fBarbitrary\\fR\n"
        "(or \\fBa,\\fIvalue\\fR), \\fBnone\\fR; v2 one-letter codes are accepted.\n"
        ".TP\n"
        "\\fIcount|regex\\fR\n"
        "A number of leading path elements, or a regular expression.\n"
        ".TP\n"
        "\\fIregex\\fR, \\fItopic\\fR, \\fIname=value\\fR, \\fIdeclaration\\fR, \\fIfile\\fR, "
        "\\fIsetting\\fR\n"
        "Lines that add something each time they appear, in file order; see\n"
        ".BR sr-config (5).\n",
        out);
}

/* One tagged paragraph per name of an option table's list (refused, or without effect),
 * with its reason as a sentence. */
static void put_reasons(FILE *out, bool (*at)(size_t, const char **, const char **))
{
    const char *name, *why;
    for (size_t i = 0; at(i, &name, &why); i++) {
        fputs(".TP\n", out);
        put_bold(out, name);
        fputs("\n", out);
        char reason[512];
        snprintf(reason, sizeof reason, "%s", why);
        sentence(reason, sizeof reason, false);
        put_line(out, reason);
    }
}

static void put_footer(FILE *out)
{
    fputs(".SH SR3 OPTIONS SR REFUSES\n"
          "sr knows these sr3 options by name, and does not do what they ask. A line\n"
          "that sets one is refused: the configuration loads (so\n"
          ".B sr show\n"
          "and\n"
          ".B sr stop\n"
          "work on it) but\n"
          ".BR check ,\n"
          ".B sr start\n"
          "and\n"
          ".B foreground\n"
          "fail, naming the file, the line and the reason below. A line that sets one\n"
          "to\n"
          ".BR off ,\n"
          ".BR false ,\n"
          ".BR no ,\n"
          ".B 0\n"
          "or\n"
          ".B None\n"
          "asks for nothing sr lacks and is accepted.\n",
          out);
    put_reasons(out, sr_option_unsupported_at);
    fputs(".SH SR3 OPTIONS WITHOUT EFFECT\n"
          "These names change nothing a user of sr would see: they have no effect in sr3\n"
          "either, or they choose how sr3 does what sr does its own way. sr reads them with\n"
          "a warning that gives the reason, and the configuration still runs.\n",
          out);
    put_reasons(out, sr_option_ignored_at);
    fputs(".PP\n"
          "Any other name is unknown: its line is refused like the options above, and\n"
          "when the name is close to a known option or alias the message suggests it.\n"
          ".SH FILES\n"
          ".TP\n"
          ".I conf.d/default.conf\n"
          "The defaults of every component, listed from the option table, in the\n"
          "installed \\fIshare/sr/conf.d\\fR (or where \\fBSR_CONFD\\fR points).\n"
          "For reading: sr applies the table itself and does not read this file.\n"
          ".TP\n"
          ".IR conf.d/ component .conf\n"
          "What one component starts with differently, read after the table's\n"
          "defaults; it must exist.\n"
          ".TP\n"
          ".I ~/.config/sr/default.conf\n"
          "Your own defaults for every configuration; they win over conf.d.\n"
          ".SH SEE ALSO\n"
          ".BR sr (1),\n"
          ".BR sr_subscribe (1),\n"
          ".BR sr-config (5),\n"
          ".BR sr-credentials (5)\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OPTIONS_DEF CONFD_DIR > sr-options.7\n", prog);
        return 2;
    }
    static layout lay;
    static defaults d;
    if (read_layout(argv[1], &lay) != 0)
        return 1;
    if (load_defaults(argv[2], &d) != 0) {
        free_defaults(&d);
        return 1;
    }
    FILE *out = stdout;
    put_header(out);
    /* Entries are full of file names and values: no hyphenation, no stretched spaces. */
    fputs(".SH OPTIONS\n.nh\n.ad l\n", out);
    for (int s = 0; s < lay.count; s++) {
        char title[TITLE_MAX];
        snprintf(title, sizeof title, "%s", lay.sections[s].title);
        if (title[0] >= 'a' && title[0] <= 'z')
            title[0] = (char)(title[0] - 'a' + 'A');
        fputs(".SS ", out);
        put_line(out, title);
        for (int id = 0; id < SR_OPT_COUNT; id++)
            if (lay.section_of[id] == s)
                put_option(out, &d, id);
    }
    put_footer(out);
    free_defaults(&d);
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "%s: cannot write the page: %s\n", prog, strerror(errno));
        return 1;
    }
    return 0;
}
