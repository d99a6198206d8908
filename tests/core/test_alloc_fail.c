/* Allocation failures, module by module: each case below is run again and again with the k-th
 * allocation of our own code failing (k = 1, 2, ... until the case no longer allocates that
 * often). Every run must end in a status with a message, never a crash; under the sanitizer
 * build LeakSanitizer checks that nothing is leaked on the way out. The test program is linked
 * with --wrap for malloc, calloc, realloc and posix_memalign (CMakeLists.txt), which reaches
 * the library's objects but not the shared libraries'. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/byol.h"
#include "astromorph/dataset.h"
#include "astromorph/embeddings.h"
#include "astromorph/fits.h"
#include "astromorph/models.h"
#include "astromorph/pipeline.h"
#include "astromorph/train.h"
#include "astromorph/evaluate.h"
#include "astromorph/hybrid.h"
#include "astromorph/kmeans.h"
#include "astromorph/morphology.h"
#include "astromorph/pca.h"
#include "astromorph/safetensors.h"
#include "astromorph/settings.h"
#include "astromorph/toml.h"
#include "astromorph/tsne.h"
#include "test_util.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t c, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);

static long countdown = -1; /* allocations left before the failing one; -1: none fails */
static long failures;

static int fail_now(void)
{
    if (countdown < 0) return 0;
    if (countdown-- > 0) return 0;
    failures++;
    return 1;
}
void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t c, size_t n) { return fail_now() ? NULL : __real_calloc(c, n); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    return fail_now() ? 12 /* ENOMEM */ : __real_posix_memalign(p, a, n);
}

static char dir[600];
static float data[64 * 24];
static int32_t labels[64];

/* ---- the cases: each does a whole piece of work and cleans up on every path ---- */

static am_status toml_case(void)
{
    static const char doc[] = "a = 1\nb = [1, 2, 3]\n[t]\nc = \"x\"\nd = { e = 1.5 }\n[[arr]]\nf = true\n";
    am_toml_value *root = NULL;
    AM_TRY(am_toml_parse(doc, sizeof doc - 1, "doc.toml", &root));
    am_toml_free(root);
    return AM_OK;
}

static am_status safetensors_case(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    am_st_writer *w = am_st_writer_new();
    if (!w) return am_error(AM_ERR_NOMEM, "writer: out of memory");
    am_tensor t = am_tensor_view(data, 2, (int64_t[]){16, 8});
    am_status s = am_st_writer_add_f32(w, "x", &t);
    if (s == AM_OK) s = am_st_writer_meta(w, "k", "v");
    if (s == AM_OK) s = am_st_writer_write(w, path);
    am_st_writer_free(w);
    am_safetensors st;
    if (s == AM_OK) s = am_st_read(&st, path);
    if (s == AM_OK) {
        am_tensor back = {0};
        s = am_st_get_f32(&st, "x", &back);
        am_tensor_free(&back);
        am_st_free(&st);
    }
    return s;
}

static am_status embeddings_case(void)
{
    char path[700], csv[700];
    snprintf(path, sizeof path, "%s/e.safetensors", dir);
    snprintf(csv, sizeof csv, "%s/e.csv", dir);
    am_embeddings e = {0}, back = {0};
    am_status s = am_embeddings_alloc(&e, 12, 4);
    for (int64_t i = 0; s == AM_OK && i < 48; i++) e.data[i] = data[i];
    if (s == AM_OK) s = am_embeddings_set_labels(&e, labels);
    if (s == AM_OK) s = am_embeddings_write(&e, path);
    if (s == AM_OK) s = am_embeddings_write_csv(&e, csv);
    if (s == AM_OK) s = am_embeddings_read(&back, path);
    am_embeddings_free(&back);
    if (s == AM_OK) s = am_embeddings_read_csv(&back, csv);
    am_embeddings_free(&back);
    am_embeddings_free(&e);
    return s;
}

static am_status analysis_case(void)
{
    am_kmeans_options ko;
    am_kmeans_options_default(&ko);
    ko.k = 3;
    am_kmeans_result km = {0};
    am_status s = am_kmeans(data, 64, 24, &ko, &km);
    am_kmeans_result_free(&km);
    am_pca p = {0};
    if (s == AM_OK) s = am_pca_fit(data, 64, 24, 2, &p);
    am_pca_free(&p);
    int32_t pred[64];
    if (s == AM_OK) s = am_eval_knn(data, 64, 24, labels, 4, 5, AM_EVAL_COSINE, pred);
    float y[64 * 2];
    am_tsne_options to;
    am_tsne_options_default(&to);
    to.iterations = 30;
    double kl;
    if (s == AM_OK) s = am_tsne(data, 64, 24, &to, y, &kl);
    return s;
}

static am_status morphology_case(void)
{
    static float img[48 * 48];
    for (int i = 0; i < 48 * 48; i++) {
        int x = i % 48 - 24, y = i / 48 - 24;
        img[i] = (float)(1.0 / (1.0 + (x * x + 2 * y * y) / 30.0)) + 0.01f * (float)((i * 7919) % 13);
    }
    am_morphology m;
    AM_TRY(am_morphology_measure(img, 48, 48, NULL, &m));
    float stats[64 * AM_MORPH_FEATURES];
    for (int i = 0; i < 64 * AM_MORPH_FEATURES; i++) stats[i] = data[i % (64 * 24)];
    am_hybrid h = {0};
    am_status s = am_hybrid_fit(&h, data, 64, 24, stats, AM_MORPH_FEATURES, 0.5);
    char *json = s == AM_OK ? am_hybrid_to_json(&h) : NULL;
    if (s == AM_OK && !json) s = am_error(AM_ERR_NOMEM, "hybrid json: out of memory");
    am_hybrid back = {0};
    if (s == AM_OK) s = am_hybrid_from_json(&back, json, "test");
    free(json);
    am_hybrid_free(&back);
    am_hybrid_free(&h);
    return s;
}

static am_status settings_case(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/s.toml", dir);
    am_settings s;
    am_status st = am_settings_load(&s, path, AM_SETTINGS_TRAINING, NULL);
    if (st != AM_OK) return st;
    char *fp = am_settings_fingerprint(&s);
    if (!fp) st = am_error(AM_ERR_NOMEM, "fingerprint: out of memory");
    free(fp);
    am_settings_free(&s);
    return st;
}

/* The engine, the BYOL core, the trainer and the pipeline's embedding, on FITS images read
 * through a dataset: three cases, each sweeping its own allocations with the others' done
 * beforehand (one case for all would cost the square of their sum). */
static am_dataset *tds;
static am_byol *tb;
static am_augment taug;

static am_status open_images(void)
{
    char list[700];
    snprintf(list, sizeof list, "%s/images.txt", dir);
    am_dataset_options dopt;
    am_dataset_options_default(&dopt);
    return am_dataset_open(&tds, list, &dopt);
}

static am_status make_byol(am_byol **b)
{
    am_model_spec spec = {.network_name = "amm", .last_layer = "layer4", .in_channels = 1};
    am_net *net = NULL;
    AM_TRY(am_model_create(&net, &spec, 3));
    am_byol_options bo;
    am_byol_options_default(&bo);
    bo.projection_size = 16, bo.projection_hidden_size = 32, bo.probe_channels = 1;
    return am_byol_create(b, net, &bo);
}

static am_status byol_case(void)
{
    am_byol *b = NULL;
    am_status s = make_byol(&b);
    am_byol_free(b);
    return s;
}

static am_status dataset_case(void)
{
    am_dataset *ds = NULL;
    char list[700];
    snprintf(list, sizeof list, "%s/images.txt", dir);
    AM_TRY(am_dataset_open(&ds, list, NULL));
    am_tensor img = {0};
    am_meta meta;
    am_status s = am_dataset_get(ds, 1, &img, &meta);
    if (s == AM_OK) am_meta_free(&meta);
    am_tensor_free(&img);
    am_dataset_free(ds);
    return s;
}

static am_status trainer_case(void)
{
    am_dataset_source feed = {.ds = tds, .augment = &taug, .stacksize = 1};
    am_train_source src = am_dataset_source_make(&feed, am_dataset_size(tds));
    am_train_settings ts;
    am_train_settings_default(&ts);
    ts.epochs = 1, ts.batch_size = 2, ts.images_per_forward = 2, ts.replicas = 1;
    am_trainer *t = NULL;
    am_status s = am_trainer_create(&t, tb, &src, &ts, NULL);
    if (s == AM_OK) s = am_trainer_run(t);
    am_trainer_free(t);
    return s;
}

static am_status embed_case(void)
{
    am_model m;
    am_model_wrap(&m, tb, 1, 1, taug.view_size, taug.normalization);
    am_embed_options eo;
    am_embed_options_default(&eo);
    eo.progress = 0, eo.morphology = 1;
    am_embeddings E = {0};
    am_status s = am_pipeline_embed(&m, tds, &eo, &E);
    am_embeddings_free(&E);
    am_model_close(&m);
    return s;
}

static void write_images(void)
{
    char list[700];
    snprintf(list, sizeof list, "%s/images.txt", dir);
    FILE *lf = fopen(list, "w");
    for (int k = 0; lf && k < 3; k++) {
        char path[800];
        snprintf(path, sizeof path, "%s/img%d.fits", dir, k);
        fprintf(lf, "%s\n", path);
        static float v[24 * 24];
        for (int i = 0; i < 24 * 24; i++) {
            int x = i % 24 - 12, y = i / 24 - 12;
            v[i] = (float)(1.0 / (1.0 + (x * x + (k + 1) * y * y) / 10.0)) + 0.01f * (float)((i * 31 + k) % 7);
        }
        am_tensor img = am_tensor_view(v, 3, (int64_t[]){1, 24, 24});
        CHECK_OK(am_fits_write(path, &img, NULL));
    }
    if (lf) fclose(lf);
}

/* Runs fn with allocation k failing, for k = 0, 1, ... until a run makes fewer allocations. */
static void sweep(const char *what, am_status (*fn)(void))
{
    countdown = -1;
    am_status ok = fn();
    CHECK(ok == AM_OK, "%s without injected failures: %s", what, am_errmsg());
    long k = 0, failed_runs = 0;
    for (; k < 100000; k++) {
        failures = 0;
        countdown = k;
        am_status s = fn();
        countdown = -1;
        if (!failures) { /* the run needed fewer than k + 1 allocations: all were covered */
            CHECK(s == AM_OK, "%s: run %ld failed with no failure injected: %s", what, k, am_errmsg());
            break;
        }
        failed_runs++;
        /* an allocation that fails may still be recovered from (a smaller buffer, a cache left
         * out); if it is not, the run must say so */
        if (s != AM_OK) CHECK(am_errmsg()[0] != 0, "%s: allocation %ld failed without a message", what, k);
    }
    printf("%-12s %ld allocations failed in turn\n", what, failed_runs);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    for (int i = 0; i < 64 * 24; i++) data[i] = (float)((i * 2654435761u) % 1000) / 1000.0f + (float)(i / 24 % 4);
    for (int i = 0; i < 64; i++) labels[i] = i % 4;
    char p[700];
    snprintf(p, sizeof p, "%s/data.txt", dir);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/s.toml", dir);
    f = fopen(p, "w");
    if (f) {
        fprintf(f, "datafile = \"%s/data.txt\"\nepochs = 3\n[augmentation]\nrotation.p = 0.5\n", dir);
        fclose(f);
    }
    sweep("toml", toml_case);
    sweep("safetensors", safetensors_case);
    sweep("embeddings", embeddings_case);
    sweep("analysis", analysis_case);
    sweep("morphology", morphology_case);
    sweep("settings", settings_case);
    write_images();
    sweep("dataset", dataset_case);
    sweep("byol", byol_case);
    am_augment_default(&taug);
    taug.view_size = 16;
    CHECK_OK(open_images());
    CHECK_OK(make_byol(&tb));
    if (tds && tb) {
        sweep("trainer", trainer_case);
        sweep("embed", embed_case);
    }
    am_byol_free(tb);
    am_dataset_free(tds);
    return am_test_finish();
}
