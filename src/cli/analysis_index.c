/* The saved index beside the embeddings, as similar, project and outliers find it
 * (analysis_common.h). */
#include <stdio.h>
#include <string.h>

#include "cli/analysis_common.h"
#include "core/internal.h"

void ac_index_path(const char *embeddings, char *out, size_t len)
{
    const char *slash = strrchr(embeddings, '/'), *dot = strrchr(embeddings, '.');
    int stem = dot && (!slash || dot > slash + 1) ? (int)(dot - embeddings) : (int)strlen(embeddings);
    snprintf(out, len, "%.*s.faiss", stem, embeddings);
}

am_knn_index *ac_open_index(const ac_common *c, const am_embeddings *e, am_metric metric)
{
    char path[4096];
    ac_index_path(c->embeddings, path, sizeof path);
    if (!am_index_available() || !am_file_exists(path)) return NULL;
    /* An index that cannot serve only means the search without it: a note, never a failure. */
    if (c->nwhere) {
        fprintf(stderr, "astromorph %s: %s not used with --where (it indexes every row)\n", c->cmd, path);
        return NULL;
    }
    am_knn_index *ix = NULL;
    if (am_knn_index_load(path, &ix) != AM_OK) {
        fprintf(stderr, "astromorph %s: %s; searching without it\n", c->cmd, am_errmsg());
        return NULL;
    }
    const am_knn_index_info *f = am_knn_index_get_info(ix);
    am_status s = AM_OK;
    if (f->metric != metric)
        fprintf(stderr, "astromorph %s: %s is a %s index, this search is %s: searching without it\n", c->cmd, path,
                am_metric_name(f->metric), am_metric_name(metric));
    else if ((s = am_knn_index_fresh(ix, e->data, e->n, e->dim)) != AM_OK)
        fprintf(stderr, "astromorph %s: %s: %s; searching without it (rebuild it: astromorph index)\n", c->cmd, path,
                am_errmsg());
    if (f->metric != metric || s != AM_OK) {
        am_knn_index_free(ix);
        return NULL;
    }
    fprintf(stderr, "astromorph %s: using the %s index %s\n", c->cmd, am_index_type_name(f->type), path);
    return ix;
}
