/* The reference of every settings key, written from the rows the reader uses (settings_keys.c):
 * examples/settings/reference.toml and the key table of docs/pipeline.md are this output, and a
 * test fails when the committed files differ from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings_internal.h"

/* Our defaults and the original's as training would complete them. */
static am_status both_defaults(am_settings *ours, am_settings *orig)
{
    memset(ours, 0, sizeof *ours);
    memset(orig, 0, sizeof *orig);
    am_settings_defaults(ours, 0);
    am_settings_defaults(orig, 1);
    am_status st = am_settings_complete(ours, AM_SETTINGS_TRAINING);
    if (st == AM_OK) st = am_settings_complete(orig, AM_SETTINGS_TRAINING);
    return st;
}

/* "; the original: 10" when the original's default differs from ours. */
static void original_note(const am_key *k, const char *ours, int has_ours, const void *orig_base, char *buf, size_t n)
{
    char theirs[512];
    int has = am_key_format(k, orig_base, theirs, sizeof theirs);
    buf[0] = 0;
    if (!strcmp(k->name, "defaults")) return; /* it names them */
    if (has && (!has_ours || strcmp(ours, theirs) != 0)) snprintf(buf, n, "; the original: %s", theirs);
    else if (!has && has_ours) snprintf(buf, n, "; the original: none");
}

static void write_toml(FILE *fp, const am_settings *ours, const am_settings *orig)
{
    fputs("# Every settings key astromorph reads, with our default. Written by `astromorph settings` from\n"
          "# the table the reader itself uses (src/pipeline/settings_keys.c); a test keeps them equal.\n"
          "# Keys marked [original] are the original package's (onsala-space-observatory/astromorph,\n"
          "# settings.py); its files work unchanged. Keys a file leaves out take our measured defaults;\n"
          "# `defaults = \"original\"` gives the original package's instead (noted where they differ) and,\n"
          "# like the original, then requires network_name, [network_settings] and [byol_settings].\n"
          "# Relative paths are tried from the working directory first (as the original does), then\n"
          "# from the settings file's folder.\n",
          fp);
    for (const am_settings_table *t = am_settings_tables(); t->name; t++) {
        if (*t->name) fprintf(fp, "\n[%s]  # %s\n", t->name, t->doc);
        else fputs("\n# --- the top level: before any [table], as TOML requires ---\n", fp);
        for (const am_key *k = t->keys; k->name; k++) {
            char value[512], rule[256], note[600];
            int has = am_key_format(k, (const char *)ours + t->base, value, sizeof value);
            am_key_rule(k, rule, sizeof rule);
            original_note(k, value, has, (const char *)orig + t->base, note, sizeof note);
            fprintf(fp, "\n# %s%s%s\n", k->doc, (k->flags & AM_KEY_REQUIRED) ? "; required" : "",
                    (k->flags & AM_KEY_ORIGINAL) ? " [original]" : "");
            if (has) fprintf(fp, "%s = %s  # %s%s\n", k->name, value, rule, note);
            else
                fprintf(fp, "%s%s = %s  # %s%s\n", (k->flags & AM_KEY_REQUIRED) ? "" : "# ", k->name,
                        k->example ? k->example : "\"...\"", rule, note);
        }
    }
}

/* Markdown cells: '|' would end the cell, '*' and '_' start emphasis. */
static void cell(FILE *fp, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|' || *p == '*' || *p == '_') fputc('\\', fp);
        fputc(*p, fp);
    }
}

static void write_markdown(FILE *fp, const am_settings *ours, const am_settings *orig)
{
    fputs("| key | ours | the original's | allowed | what it does |\n|---|---|---|---|---|\n", fp);
    for (const am_settings_table *t = am_settings_tables(); t->name; t++)
        for (const am_key *k = t->keys; k->name; k++) {
            char value[512], theirs[512], rule[256];
            int has = am_key_format(k, (const char *)ours + t->base, value, sizeof value);
            int has_theirs = am_key_format(k, (const char *)orig + t->base, theirs, sizeof theirs);
            am_key_rule(k, rule, sizeof rule);
            fprintf(fp, "| `%s%s%s` | ", t->name, *t->name ? "." : "", k->name);
            if (has) fprintf(fp, "`%s`", value);
            else fputs((k->flags & AM_KEY_REQUIRED) ? "required" : "none", fp);
            fputs(" | ", fp);
            if (!has_theirs) fputs("none", fp);
            else if (has && !strcmp(value, theirs)) fputs("same", fp);
            else fprintf(fp, "`%s`", theirs);
            fputs(" | ", fp);
            cell(fp, rule);
            fputs(" | ", fp);
            cell(fp, k->doc);
            fputs((k->flags & AM_KEY_ORIGINAL) ? " (the original's key) |\n" : " |\n", fp);
        }
}

am_status am_settings_reference(FILE *fp, am_settings_reference_format format)
{
    am_settings ours, orig;
    am_status st = both_defaults(&ours, &orig);
    if (st == AM_OK) {
        if (format == AM_SETTINGS_REFERENCE_MARKDOWN) write_markdown(fp, &ours, &orig);
        else write_toml(fp, &ours, &orig);
        if (ferror(fp)) st = am_error(AM_ERR_IO, "settings reference: write failed");
    }
    am_settings_free(&ours);
    am_settings_free(&orig);
    return st;
}
