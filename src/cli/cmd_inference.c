/* `astromorph inference`: the original's pipeline_02_inference — embeddings of every image
 * (online network up to the hidden layer, eval mode), k-means labels, the TensorBoard projector
 * in runs/<model>/, exported/<model>.csv — plus exported/<model>.safetensors, the embeddings
 * file the analysis commands read. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/dist.h"
#include "astromorph/kmeans.h"
#include "astromorph/outliers.h"
#include "astromorph/pca.h"
#include "astromorph/pipeline.h"
#include "astromorph/projector.h"
#include "astromorph/runtime.h"
#include "astromorph/thumbnail.h"
#include "cli/commands.h"
#include "astromorph/settings.h"
#include "core/internal.h"
#include "dist/dist_internal.h"

/* The original's model_basename: the file name without folders, cut at its first '.'. */
static void model_basename(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    snprintf(out, size, "%.*s", (int)n, base);
}

/* runs/<model>/: the projector files, with a 144-px thumbnail of every image in the sprite. */
static am_status write_projector(const char *dir, am_dataset *ds, const am_embeddings *E, int sprite)
{
    am_projector *p;
    AM_TRY(am_projector_open(&p, dir, E->n, E->dim, sprite));
    int size = am_projector_thumb_size(p);
    am_status s = AM_OK;
    for (int64_t i = 0; i < E->n && s == AM_OK; i++) {
        am_thumbnail th = {0};
        if (sprite) {
            am_tensor img;
            if ((s = am_dataset_get(ds, i, &img, NULL)) != AM_OK) break;
            s = am_thumbnail_make(img.data, (int)img.shape[0], (int)img.shape[1], (int)img.shape[2], size, NULL, &th,
                                  NULL);
            am_tensor_free(&img);
        }
        if (s == AM_OK)
            s = am_projector_add(p, E->data + i * E->dim, E->labels ? E->labels[i] : -1, &E->meta[i],
                                 sprite ? &th : NULL);
        am_thumbnail_free(&th);
    }
    if (s != AM_OK) {
        am_projector_abort(p);
        return s;
    }
    return am_projector_commit(p);
}

/* Above this many images the exact outlier scores (O(n^2)) are left to `astromorph outliers`. */
#define CATALOGUE_OUTLIER_MAX 20000

/* exported/<model>.fits (and .vot): the embeddings with an outlier score and the first two
 * principal components as columns, so that a catalogue tool can sort and plot them at once. */
static am_status write_catalogues(const am_embeddings *E, const char *name, int votable)
{
    double *score = NULL, *pc = NULL;
    float *proj = NULL;
    am_table_column cols[3];
    int ncols = 0;
    am_status st = AM_OK;
    if (E->n > 5 && E->n <= CATALOGUE_OUTLIER_MAX) {
        if (!(score = malloc((size_t)E->n * sizeof *score))) return am_error(AM_ERR_NOMEM, "out of memory");
        st = am_outlier_scores(E->data, E->n, E->dim, AM_METRIC_COSINE, 5, score, NULL);
        if (st == AM_OK)
            cols[ncols++] = (am_table_column){
                "OUTLIER_KNN", "", "mean cosine distance to the 5 nearest embeddings (outliers --method knn)", score};
    } else if (E->n > CATALOGUE_OUTLIER_MAX) {
        am_log(AM_LOG_INFO, "%lld images: no outlier column in the table (astromorph outliers ranks them)",
               (long long)E->n);
    }
    am_pca pca = {0};
    if (st == AM_OK && E->n > 2 && E->dim >= 2) {
        proj = malloc((size_t)E->n * 2 * sizeof *proj);
        pc = malloc((size_t)E->n * 2 * sizeof *pc);
        st = proj && pc ? am_pca_fit(E->data, E->n, E->dim, 2, &pca) : am_error(AM_ERR_NOMEM, "out of memory");
        if (st == AM_OK) st = am_pca_transform(&pca, E->data, E->n, proj);
        for (int64_t i = 0; st == AM_OK && i < E->n; i++) pc[i] = proj[2 * i], pc[E->n + i] = proj[2 * i + 1];
        if (st == AM_OK) {
            cols[ncols++] = (am_table_column){"PCA1", "", "first principal component of the embeddings", pc};
            cols[ncols++] = (am_table_column){"PCA2", "", "second principal component of the embeddings", pc + E->n};
        }
        am_pca_free(&pca);
    }
    char path[1024];
    if (st == AM_OK) {
        snprintf(path, sizeof path, "exported/%s.fits", name);
        st = am_embeddings_write_fits(E, cols, ncols, path);
        if (st == AM_OK) printf("table:      %s (FITS; TOPCAT, astropy)\n", path);
    }
    if (st == AM_OK && votable) {
        snprintf(path, sizeof path, "exported/%s.vot", name);
        st = am_embeddings_write_votable(E, cols, ncols, path);
        if (st == AM_OK) printf("votable:    %s\n", path);
    }
    free(score), free(pc), free(proj);
    return st;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph inference [-c FILE] [-d DATAFILE] [-m MASKFILE] [-n MODEL] [-k K]\n"
                "       astromorph inference MODEL [DATA] [options]\n\n"
                "Embeds every image with a trained model and writes:\n"
                "  runs/<model>/          TensorBoard projector (tensors, metadata, sprite)\n"
                "  exported/<model>.safetensors  embeddings + metadata (for similar/project/cluster/outliers)\n"
                "  exported/<model>.fits  the same as a FITS table (positions from the WCS; TOPCAT, astropy)\n"
                "  exported/<model>.csv   the original's ';'-separated export (export_to_csv = true)\n\n"
                "  -c, --configfile FILE            settings (TOML); options below override it\n"
                "  -d, --datafile FILE              list of FITS files, or a folder of them\n"
                "  -m, --maskfile FILE              mask: the datafile is then one image cut into objects\n"
                "  -n, --trained_network_name FILE  model from astromorph training (or a checkpoint)\n"
                "  -k, --clusters K                 k-means clusters (default 10)\n"
                "  --csv                            also write exported/<model>.csv\n"
                "  --votable                        also write exported/<model>.vot (IVOA VOTable)\n"
                "  -h, --help                       this help\n");
}

/* k-means labels of every row, into rank 0's E. Over MPI ranks each rank clusters the rows it
 * embedded (am_kmeans_ranks: one process's result) when the shares start on multiples of
 * AM_KMEANS_ALIGN rows, as they do with views at a common size; otherwise rank 0 clusters
 * every row alone, with the same result. */
static am_status cluster_rows(am_embeddings *E, int64_t total, const am_kmeans_options *ko)
{
    const int size = am_dist_size(), rank = am_dist_rank();
    am_kmeans_result km = {0};
    am_status st = AM_OK;
    if (size == 1) {
        st = am_kmeans(E->data, E->n, E->dim, ko, &km);
        if (st == AM_OK) st = am_embeddings_set_labels(E, km.labels);
        am_kmeans_result_free(&km);
        return st;
    }
    /* the shares: rank 0 holds every row, its own share ends where rank 1's begins */
    int64_t *first = calloc((size_t)size + 1, sizeof *first), *bytes = calloc((size_t)size, sizeof *bytes);
    int32_t *labels = rank == 0 ? malloc((size_t)(total ? total : 1) * sizeof *labels) : NULL;
    if (!first || !bytes || (rank == 0 && !labels)) st = am_error(AM_ERR_NOMEM, "out of memory");
    st = am_dist_agree(st);
    if (st == AM_OK) st = am_dist_allgather(&E->row0, sizeof E->row0, first);
    int aligned = 1;
    first[size] = total;
    for (int r = 0; st == AM_OK && r < size; r++) {
        bytes[r] = (first[r + 1] - first[r]) * (int64_t)sizeof(int32_t);
        if (first[r] % AM_KMEANS_ALIGN != 0) aligned = 0;
    }
    const int64_t mine = first[rank + 1] - first[rank];
    if (st == AM_OK && aligned) {
        st = am_kmeans_ranks(E->data, mine, first[rank], E->dim, ko, &km);
        if (st == AM_OK) st = am_dist_gatherv(km.labels, mine * (int64_t)sizeof(int32_t), labels, bytes, 0);
    } else if (st == AM_OK) {
        if (rank == 0) st = am_kmeans(E->data, E->n, E->dim, ko, &km);
        if (st == AM_OK && rank == 0) memcpy(labels, km.labels, (size_t)total * sizeof *labels);
        st = am_dist_agree(st);
    }
    if (st == AM_OK && rank == 0) st = am_embeddings_set_labels(E, labels);
    am_kmeans_result_free(&km);
    free(first), free(bytes), free(labels);
    return st;
}

static am_status infer(am_settings *s, int votable)
{
    am_model m = {0};
    am_dataset *ds = NULL;
    am_embeddings E = {0};
    am_kmeans_result km = {0};
    char name[256], path[1024];
    if (s->core_limit > 0) am_set_threads(s->core_limit);
    am_log(AM_LOG_INFO, "Loading pretrained model %s...", s->trained_network_name);
    am_status st = am_model_open(&m, s->trained_network_name);
    if (st == AM_OK) { /* the forward-only copies that embed side by side inherit it */
        am_precision prec = am_settings_precision(s);
        st = am_net_set_precision(am_byol_network(m.byol), prec);
        am_log(AM_LOG_INFO, "convolutions in %s (oneDNN dispatches %s)", prec == AM_PRECISION_BF16 ? "BF16" : "FP32",
               am_cpu_isa_name());
    }
    if (st == AM_OK && s->network_name && strcmp(s->network_name, m.network) != 0)
        am_log(AM_LOG_WARN, "the settings name network_name = \"%s\", but %s is a %s model: using the model's",
               s->network_name, s->trained_network_name, m.network);
    if (st == AM_OK && s->stacksize != 1 && s->stacksize != m.stacksize)
        am_log(AM_LOG_WARN, "data_settings.stacksize = %d, but the model was trained with %d: using %d", s->stacksize,
               m.stacksize, m.stacksize);
    if (st == AM_OK) {
        if (s->maskfile) st = am_dataset_open_mask(&ds, s->datafile, s->maskfile, &s->data);
        else st = am_dataset_open(&ds, s->datafile, &s->data);
    }
    char *report = NULL;
    if (st == AM_OK) st = am_dataset_validate(ds, &report);
    free(report);
    if (st == AM_OK && am_dataset_size(ds) < 1) st = am_error(AM_ERR_VALUE, "%s: no usable images", s->datafile);
    if (st == AM_OK) {
        am_log(AM_LOG_INFO, "Calculating embeddings of %lld images...", (long long)am_dataset_size(ds));
        am_embed_options eo;
        am_embed_options_default(&eo);
        eo.morphology = s->morphology, eo.morphology_each = s->morphology_each;
        st = am_pipeline_embed(&m, ds, &eo, &E);
    }
    if (st == AM_OK) {
        const int64_t total = am_dataset_size(ds);
        am_kmeans_options ko;
        am_kmeans_options_default(&ko);
        ko.k = s->n_clusters;
        ko.seed = s->train.seed;
        if (ko.k > total) {
            am_log(AM_LOG_WARN, "n_clusters = %d but only %lld images: using %lld clusters", ko.k, (long long)total,
                   (long long)total);
            ko.k = (int)total;
        }
        am_log(AM_LOG_INFO, "Clustering embeddings (k = %d)...", ko.k);
        st = cluster_rows(&E, total, &ko);
    }
    /* over MPI ranks rank 0 now holds every row and its label: it writes */
    if (am_dist_rank() != 0) goto done;
    model_basename(s->trained_network_name, name, sizeof name);
    if (st == AM_OK) st = am_embeddings_set_model(&E, name);
    if (st == AM_OK) {
        am_log(AM_LOG_INFO, "Producing thumbnails and projector files...");
        snprintf(path, sizeof path, "runs/%s", name);
        st = write_projector(path, ds, &E, s->sprite);
        if (st == AM_OK) printf("projector:  %s/ (tensorboard --logdir runs)\n", path);
    }
    if (st == AM_OK) st = am_mkdirs("exported");
    if (st == AM_OK) {
        snprintf(path, sizeof path, "exported/%s.safetensors", name);
        st = s->embeddings_f16 ? am_embeddings_write_f16(&E, path) : am_embeddings_write(&E, path);
        if (st == AM_OK)
            printf("embeddings: %s (%lld x %lld%s)\n", path, (long long)E.n, (long long)E.dim,
                   s->embeddings_f16 ? ", F16" : "");
    }
    if (st == AM_OK) st = write_catalogues(&E, name, votable);
    if (st == AM_OK && s->export_to_csv) {
        snprintf(path, sizeof path, "exported/%s.csv", name);
        st = am_embeddings_write_csv(&E, path);
        if (st == AM_OK) printf("csv:        %s\n", path);
    }
done:
    am_kmeans_result_free(&km);
    am_embeddings_free(&E);
    am_dataset_free(ds);
    am_model_close(&m);
    return st;
}

int am_cmd_inference(int argc, char **argv)
{
    static const struct option opts[] = {{"configfile", required_argument, NULL, 'c'},
                                         {"datafile", required_argument, NULL, 'd'},
                                         {"maskfile", required_argument, NULL, 'm'},
                                         {"trained_network_name", required_argument, NULL, 'n'},
                                         {"clusters", required_argument, NULL, 'k'},
                                         {"csv", no_argument, NULL, 'x'},
                                         {"votable", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL;
    am_settings_overrides ov = {0};
    int clusters = 0, csv = 0, votable = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:d:m:n:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': ov.datafile = optarg; break;
        case 'm': ov.maskfile = optarg; break;
        case 'n': ov.trained_network_name = optarg; break;
        case 'k': {
            char *end;
            long k = strtol(optarg, &end, 10);
            if (*end || k < 1 || k > 100000) {
                fprintf(stderr, "astromorph inference: --clusters %s: must be an integer from 1 to 100000\n", optarg);
                return 2;
            }
            clusters = (int)k;
            break;
        }
        case 'x': csv = 1; break;
        case 'v': votable = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    /* MODEL [DATA] as words, as the options -n and -d */
    if (optind < argc && !ov.trained_network_name) ov.trained_network_name = argv[optind++];
    if (optind < argc && !ov.datafile) ov.datafile = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "astromorph inference: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    am_settings s;
    if (am_settings_load(&s, config, AM_SETTINGS_INFERENCE, &ov) != AM_OK) return am_cli_fail("inference");
    if (clusters) s.n_clusters = clusters;
    if (csv) s.export_to_csv = 1;
    am_run_log_close(); /* INFO lines on the terminal, as the original's logger */
    am_status st = infer(&s, votable);
    am_settings_free(&s);
    return st == AM_OK ? 0 : am_cli_fail("inference");
}
