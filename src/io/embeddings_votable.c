/* Embeddings as an IVOA VOTable (1.4, TABLEDATA): the same columns as the FITS table
 * (emb_table.h), for tools that take VOTables (TOPCAT, Aladin, astropy.io.votable, SAMP hubs).
 * Written under a temporary name and renamed when complete. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/embeddings.h"
#include "astromorph/runtime.h"
#include "io/emb_table.h"

/* Text as XML character data or an attribute value. */
static void xml_text(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default:
            /* control characters are not allowed in XML 1.0: a blank instead */
            fputc(*p < 0x20 && *p != '\t' ? ' ' : *p, fp);
        }
    }
}

static void field(FILE *fp, const emb_col *c)
{
    static const char *const type[] = {
        [EMB_TEXT] = "char", [EMB_INT] = "int", [EMB_DOUBLE] = "double", [EMB_FLOAT] = "float", [EMB_VECTOR] = "float"};
    fprintf(fp, "      <FIELD name=\"%s\" datatype=\"%s\"", c->name, type[c->type]);
    if (c->type == EMB_TEXT) fputs(" arraysize=\"*\"", fp);
    if (c->type == EMB_VECTOR) fprintf(fp, " arraysize=\"%d\"", c->width);
    if (c->unit[0]) fprintf(fp, " unit=\"%s\"", c->unit);
    if (c->ucd[0]) fprintf(fp, " ucd=\"%s\"", c->ucd);
    fputs(">\n        <DESCRIPTION>", fp);
    xml_text(fp, c->desc);
    fputs("</DESCRIPTION>\n", fp);
    if (c->type == EMB_INT) fprintf(fp, "        <VALUES null=\"%d\"/>\n", c->source == EMB_HDU ? 0 : -1);
    fputs("      </FIELD>\n", fp);
}

static void number(FILE *fp, double v, int digits)
{
    if (isnan(v)) fputs("NaN", fp);
    else fprintf(fp, "%.*g", digits, v);
}

am_status am_embeddings_write_votable(const am_embeddings *e, const am_table_column *more, int nmore, const char *path)
{
    emb_table t;
    AM_TRY(emb_table_make(&t, e, more, nmore));
    am_atomic_file af;
    am_status s = am_atomic_open(&af, path, 0);
    if (s != AM_OK) {
        emb_table_free(&t);
        return s;
    }
    FILE *fp = af.fp;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n"
          "  <RESOURCE name=\"astromorph\">\n",
          fp);
    if (e->model) {
        fputs("    <INFO name=\"model\" value=\"", fp);
        xml_text(fp, e->model);
        fputs("\"/>\n", fp);
    }
    fprintf(fp, "    <TABLE name=\"EMBEDDINGS\" nrows=\"%lld\">\n", (long long)e->n);
    fputs("      <DESCRIPTION>One row per image: its file, header metadata, sky position, cluster, "
          "statistics and embedding.</DESCRIPTION>\n",
          fp);
    for (int k = 0; k < t.ncols; k++) field(fp, &t.cols[k]);
    fputs("      <DATA><TABLEDATA>\n", fp);
    char cell[4096];
    for (int64_t i = 0; i < e->n; i++) {
        fputs("        <TR>", fp);
        for (int k = 0; k < t.ncols; k++) {
            const emb_col *c = &t.cols[k];
            fputs("<TD>", fp);
            if (c->type == EMB_TEXT) {
                emb_table_text(&t, c, i, cell, sizeof cell);
                xml_text(fp, cell);
            } else if (c->type == EMB_VECTOR) {
                for (int64_t j = 0; j < e->dim; j++) {
                    if (j) fputc(' ', fp);
                    number(fp, e->data[i * e->dim + j], 9);
                }
            } else if (c->type == EMB_INT) {
                fprintf(fp, "%lld", (long long)emb_table_number(&t, c, i));
            } else {
                number(fp, emb_table_number(&t, c, i), c->type == EMB_FLOAT ? 9 : 17);
            }
            fputs("</TD>", fp);
        }
        fputs("</TR>\n", fp);
    }
    fputs("      </TABLEDATA></DATA>\n    </TABLE>\n  </RESOURCE>\n</VOTABLE>\n", fp);
    emb_table_free(&t);
    return am_atomic_commit(&af);
}
