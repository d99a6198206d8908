/* `astromorph explore [--embeddings E] [-o DIR]`: the explorer page for the embeddings
 * (am_explore_write, include/astromorph/explore.h), thumbnails made from each row's FITS file
 * as the figures make them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/explore.h"
#include "astromorph/fits.h"
#include "cli/analysis_common.h"
#include "cli/commands.h"

enum { OPT_NEIGHBOURS = AC_OPT_FIRST_FREE, OPT_MAP, OPT_THUMB, OPT_MAX_THUMBS, OPT_ITERATIONS, OPT_NO_INDEX };

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: astromorph explore [--embeddings FILE] [-o DIR] [options]\n\n"
            "Writes DIR/index.html (default explorer/), its data and thumbnail atlases: open it in any\n"
            "browser, from disk, offline. A t-SNE map (PCA above %d objects) drawn with points and\n"
            "thumbnails (a sample spread over the map when there are more objects than --max-thumbs);\n"
            "colour by cluster, outlier score or any column; click for an object's metadata and its\n"
            "most similar objects; search by OBJECT; box-select (shift-drag) and download the list.\n\n"
            "  -o DIR               the folder (default explorer)\n"
            "  --neighbours K       look-alikes per object (default 10)\n"
            "  --map tsne|pca       the map (default: t-SNE up to %d objects)\n"
            "  --iterations N       t-SNE iterations (default 1000)\n"
            "  --thumb PIXELS       thumbnail size (default 64)\n"
            "  --max-thumbs N       at most N thumbnails, spread over the map (default 20000)\n"
            "  --no-index           look-alikes without the saved index (a cosine exported/<model>.faiss\n"
            "                       from `astromorph index --metric cosine`, used when fresh)\n"
            "%s",
            AM_EXPLORE_TSNE_MAX, AM_EXPLORE_TSNE_MAX, AC_COMMON_HELP);
}

typedef struct {
    am_explore_options o;
    const ac_common *c;
    const am_embeddings *e;
    int no_index; /* --no-index */
} explore_job;

static int option(const ac_common *c, void *user, int opt, const char *arg)
{
    explore_job *j = user;
    long v;
    switch (opt) {
    case OPT_NEIGHBOURS:
        if (!ac_parse_int(c, "--neighbours", arg, 1, 100, &v)) return 0;
        j->o.neighbours = (int)v;
        return 1;
    case OPT_THUMB:
        if (!ac_parse_int(c, "--thumb", arg, 8, 256, &v)) return 0;
        j->o.thumb_size = (int)v;
        return 1;
    case OPT_MAX_THUMBS:
        if (!ac_parse_int(c, "--max-thumbs", arg, 0, 100000000, &v)) return 0;
        j->o.max_thumbs = v;
        return 1;
    case OPT_ITERATIONS:
        if (!ac_parse_int(c, "--iterations", arg, 1, 100000, &v)) return 0;
        j->o.tsne_iterations = (int)v;
        return 1;
    case OPT_NO_INDEX: j->no_index = 1; return 1;
    case OPT_MAP:
        if (!strcmp(arg, "tsne")) j->o.map = AM_EXPLORE_MAP_TSNE;
        else if (!strcmp(arg, "pca")) j->o.map = AM_EXPLORE_MAP_PCA;
        else {
            fprintf(stderr, "astromorph explore: --map %s: tsne or pca\n", arg);
            return 0;
        }
        return 1;
    default: return 0;
    }
}

/* Row `row`'s thumbnail from its FITS file, as the figures draw it. */
static am_status row_thumb(void *user, int64_t row, int size, am_thumbnail *out)
{
    explore_job *j = user;
    char path[4200];
    AM_TRY(ac_image_path(j->c, j->e, row, path, sizeof path));
    am_tensor img;
    AM_TRY(am_fits_read(path, NULL, &img, NULL));
    am_status s = am_thumbnail_make(img.data, (int)img.shape[0], (int)img.shape[1], (int)img.shape[2], size,
                                    &j->c->thumb, out, NULL);
    am_tensor_free(&img);
    return s;
}

int am_cmd_explore(int argc, char **argv)
{
    static const struct option opts[] = {{"neighbours", required_argument, NULL, OPT_NEIGHBOURS},
                                         {"map", required_argument, NULL, OPT_MAP},
                                         {"thumb", required_argument, NULL, OPT_THUMB},
                                         {"max-thumbs", required_argument, NULL, OPT_MAX_THUMBS},
                                         {"iterations", required_argument, NULL, OPT_ITERATIONS},
                                         {"no-index", no_argument, NULL, OPT_NO_INDEX},
                                         {NULL, 0, NULL, 0}};
    static const ac_command cmd = {"explore", opts, "", option, usage};
    ac_common c;
    explore_job j;
    am_explore_options_default(&j.o);
    j.no_index = 0;
    int rc = ac_parse(&cmd, &c, &j, argc, argv);
    if (rc >= 0) return rc;
    const char *dir = c.output ? c.output : "explorer";
    am_embeddings e;
    if (ac_load(&c, &e) != AM_OK) return am_cli_fail("explore");
    j.c = &c, j.e = &e;
    am_knn_index *ix = j.no_index ? NULL : ac_open_index(&c, &e, AM_METRIC_COSINE);
    j.o.index = ix;
    am_status s = am_explore_write(&e, &j.o, row_thumb, &j, dir);
    am_knn_index_free(ix);
    am_embeddings_free(&e);
    if (s != AM_OK) return am_cli_fail("explore");
    printf("explorer: %s/index.html (open it in a browser; it needs no network)\n", dir);
    return 0;
}
