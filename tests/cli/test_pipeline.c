/* End to end: `astromorph training` and `astromorph inference` on a small generated set, driven
 * by a settings file in the original package's format, with every output checked; then Ctrl-C,
 * --resume, and the command-line contract (help, version, exit codes). Runs the program named
 * by $AM_CLI in a temporary folder. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "astromorph/embeddings.h"
#include "astromorph/fits.h"
#include "astromorph/morphology.h"
#include "astromorph/pipeline.h"
#include "astromorph/settings.h"
#include "astromorph/rng.h"
#include "astromorph/safetensors.h"
#include "astromorph/tfevents.h"
#include "test_util.h"
#include "io/crc32c.h"

enum { N_IMAGES = 12 };
static const char *cli;
static char dir[512];

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

/* Runs `astromorph ARGS` in dir; stdout/stderr go to out.txt/err.txt. Returns the exit status. */
static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out.txt 2>err.txt </dev/null", dir, cli, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static char *output(const char *which)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, which);
    return am_test_slurp(p, NULL);
}

/* The single entry of folder `sub` whose name starts with prefix and ends with suffix. */
static int find_one(const char *sub, const char *prefix, const char *suffix, char *out, size_t size)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *d = opendir(p);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name), ls = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n >= ls && strcmp(e->d_name + n - ls, suffix) == 0) {
            found++;
            snprintf(out, size, "%s/%s", sub, e->d_name);
        }
    }
    if (d) closedir(d);
    return found;
}

/* Files left under a temporary name (am_atomic_open's "<name>.tmp.<pid>") anywhere below path. */
static int count_temporaries(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (strstr(e->d_name, ".tmp")) n++;
        n += count_temporaries(sub);
    }
    closedir(d);
    return n;
}

/* Images of a few shapes and sizes, with OBJECT/OBSRA headers, listed in data/example_file.txt. */
static void make_data(void)
{
    char p[700];
    snprintf(p, sizeof p, "%s/data", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/data/example_file.txt", dir);
    FILE *list = fopen(p, "w");
    for (int i = 0; i < N_IMAGES; i++) {
        int h = 32 + (i % 3) * 4, w = 32 + (i % 2) * 6;
        am_tensor t;
        CHECK_OK(am_tensor_alloc(&t, 2, (int64_t[]){h, w}));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double r = hypot(y - h / 2.0, x - w / 2.0), v;
                if (i % 3 == 0) v = exp(-r * r / 20.0); /* blob */
                else if (i % 3 == 1) v = exp(-(r - 9) * (r - 9) / 4.0); /* ring */
                else v = (x + i) % 8 < 3 ? 1.0 : 0.1; /* stripes */
                t.data[y * w + x] = (float)(v * 100 + 0.01 * ((x * 7 + y * 13 + i) % 11));
            }
        am_meta m;
        am_meta_init(&m);
        snprintf(m.object, sizeof m.object, "obj%02d", i);
        snprintf(m.ra, sizeof m.ra, "%d.5", 10 + i);
        snprintf(p, sizeof p, "%s/data/img%02d.fits", dir, i);
        CHECK_OK(am_fits_write(p, &t, &m));
        fprintf(list, "img%02d.fits\n", i);
        am_tensor_free(&t);
    }
    fclose(list);
}

/* The original's example_settings.toml with a tiny network and run: same keys, same layout. */
static void write_settings(const char *name, int epochs)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    fprintf(fp,
            "# This is an example configfile\n"
            "datafile = \"data/example_file.txt\"\n"
            "# maskfile = \"data/example_mask.fits\"\n"
            "epochs = %d\n"
            "learning_rate = 6e-6\n"
            "exponential_lr = true\n"
            "gamma = 0.99\n"
            "network_name = \"amm\"\n"
            "export_to_csv = true\n"
            "core_limit = 2\n"
            "batch_size = 4\n\n"
            "[network_settings]\nlast_layer = \"layer4\"\n\n"
            "[data_settings]\nstacksize = 3\n\n"
            "[byol_settings]\nrepresentation_size = 128\nprojection_size = 64\n"
            "projection_hidden_size = 256\nuse_momentum = true\n",
            epochs);
    fclose(fp);
}

static int contains(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return 1;
    return 0;
}

/* Walks the TFRecord frames of an event file: checks both CRCs of every record and counts the
 * records whose payload mentions `tag`. */
static int count_tag(const char *path, const char *tag, int *records)
{
    size_t len;
    char *b = am_test_slurp(path, &len);
    CHECK(b != NULL, "cannot read %s", path);
    if (!b) return -1;
    size_t pos = 0;
    int hits = 0;
    *records = 0;
    while (pos + 12 <= len) {
        uint64_t n = 0;
        uint32_t c1, c2;
        for (int i = 0; i < 8; i++) n |= (uint64_t)(unsigned char)b[pos + i] << (8 * i);
        memcpy(&c1, b + pos + 8, 4);
        CHECK(c1 == am_crc32c_masked(b + pos, 8), "length CRC of record %d", *records);
        if (pos + 12 + n + 4 > len) break;
        memcpy(&c2, b + pos + 12 + n, 4);
        CHECK(c2 == am_crc32c_masked(b + pos + 12, n), "data CRC of record %d", *records);
        if (*records == 0) CHECK(contains(b + pos + 12, n, "brain.Event:2"), "first record is file_version");
        if (contains(b + pos + 12, n, tag)) hits++;
        (*records)++;
        pos += 12 + n + 4;
    }
    CHECK(pos == len, "event file ends on a record boundary (%zu of %zu)", pos, len);
    free(b);
    return hits;
}

static void check_training(char *label, size_t lsize, char *model, size_t msize)
{
    char log[700], p[700];
    CHECK(find_one("logs", "", ".log", log, sizeof log) == 1, "one log file in logs/");
    /* logs/YYYYmmdd_HHMM.log */
    const char *base = log + 5;
    CHECK(strlen(base) == 17 && base[8] == '_', "log name %s", base);
    snprintf(label, lsize, "%.13s", base);
    char *text = output(log);
    CHECK(text && strstr(text, "epochs = 2") && strstr(text, "stacksize = 3"), "log holds the full settings");
    CHECK(text && strstr(text, "train/test split") && strstr(text, "[Epoch 1] Learning rate") &&
              strstr(text, "[Epoch 2] Training loss") && strstr(text, "[Epoch 2] Test OOS loss") &&
              strstr(text, "images/s"),
          "log holds the split, per-epoch learning rate, losses and timings");
    CHECK(text && strstr(text, "WARNING") == NULL, "no warnings: representation_size 128 fits amm");
    free(text);
    text = output("err.txt");
    CHECK(text && strstr(text, "epoch 1/2") && strstr(text, "\r") == NULL,
          "plain progress lines when stderr is not a terminal");
    free(text);
    snprintf(p, sizeof p, "saved_models/improved_net_e_2_%s.safetensors", label);
    snprintf(model, msize, "%s", p);
    char full[800];
    snprintf(full, sizeof full, "%s/%s", dir, p);
    am_safetensors st;
    CHECK_OK(am_st_read(&st, full));
    if (st.buffer) {
        CHECK(am_st_meta(&st, "network_name") && strcmp(am_st_meta(&st, "network_name"), "amm") == 0 &&
                  am_st_meta(&st, "in_channels") && strcmp(am_st_meta(&st, "in_channels"), "3") == 0,
              "model metadata");
        CHECK(am_st_find(&st, "online_encoder.network.conv1.weight") != NULL, "model holds the online network");
        /* what inference needs to see images as training did (our defaults) */
        const char *view = am_st_meta(&st, "view_size"), *norm = am_st_meta(&st, "normalization"),
                   *hy = am_st_meta(&st, "hybrid"), *pool = am_st_meta(&st, "pooling");
        CHECK(pool && !strcmp(pool, "gem"), "model metadata: pooling %s", pool ? pool : "-");
        CHECK(view && !strcmp(view, "64") && norm && !strcmp(norm, "asinh") && hy && strstr(hy, "\"weight\":0.5"),
              "model metadata: view_size %s, normalization %s, hybrid %.40s", view ? view : "-", norm ? norm : "-",
              hy ? hy : "-");
        am_st_free(&st);
    }
    text = output("saved_models/.gitignore");
    CHECK(text && strstr(text, ".gitignore") && strstr(text, "*.safetensors"), "saved_models/.gitignore");
    free(text);
    char ev[700], sub[64];
    snprintf(sub, sizeof sub, "runs/%s", label);
    CHECK(find_one(sub, "events.out.tfevents.", "", ev, sizeof ev) == 1, "one event file in %s", sub);
    snprintf(full, sizeof full, "%s/%s", dir, ev);
    int records = 0;
    CHECK(count_tag(full, "Train loss", &records) == 2, "a Train loss per epoch");
    CHECK(count_tag(full, "Test loss", &records) == 2, "a Test loss per epoch");
    int batches = count_tag(full, "Batch loss", &records);
    /* 12 images → 9 or 10 for training, batch_size 4 → 3 steps per epoch (tail included) */
    CHECK(batches == 6, "Batch loss per optimizer step: %d", batches);
    int spread = count_tag(full, "Embedding spread", &records), erank = count_tag(full, "Effective rank", &records);
    CHECK(spread == 2 && erank == 2, "collapse monitors per epoch: %d spread, %d rank", spread, erank);
    CHECK(records == 1 + 2 + 2 + batches + spread + erank, "records %d", records);
}

static void check_inference(const char *model)
{
    char name[256], p[800];
    const char *base = strrchr(model, '/') + 1;
    snprintf(name, sizeof name, "%.*s", (int)strcspn(base, "."), base);
    snprintf(p, sizeof p, "runs/%s/metadata.tsv", name);
    char *meta = output(p);
    CHECK(meta && strncmp(meta, "cluster\tobject\tright ascension\tdeclination\trest freq\tfilepath\n", 59) == 0,
          "metadata.tsv header");
    CHECK(count_lines(meta) == N_IMAGES + 1 && strstr(meta, "obj03") && strstr(meta, "13.5"),
          "metadata rows with FITS headers");
    free(meta);
    snprintf(p, sizeof p, "runs/%s/tensors.tsv", name);
    char *tensors = output(p);
    CHECK(count_lines(tensors) == N_IMAGES, "tensors.tsv rows");
    int tabs = 0;
    for (const char *c = tensors; c && *c && *c != '\n'; c++) tabs += *c == '\t';
    /* our default: the hybrid of amm's 128 avgpool features and the 25 morphology features */
    CHECK(tabs == 127 + AM_MORPH_FEATURES, "153 columns (amm's avgpool beside the statistics), %d tabs", tabs);
    free(tensors);
    snprintf(p, sizeof p, "runs/%s/projector_config.pbtxt", name);
    char *cfg = output(p);
    CHECK(cfg && strstr(cfg, "tensors.tsv") && strstr(cfg, "metadata.tsv") && strstr(cfg, "sprite.png") &&
              strstr(cfg, "144"),
          "projector config");
    free(cfg);
    snprintf(p, sizeof p, "runs/%s/sprite.png", name);
    char *png = output(p);
    CHECK(png && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "sprite.png is a PNG");
    free(png);
    snprintf(p, sizeof p, "exported/%s.csv", name);
    char *csv = output(p);
    /* the original's columns, then the morphology statistics (our default) */
    CHECK(csv && strncmp(csv, ";cluster;object;right ascension;declination;rest freq;filepath;emb_dim_0;", 72) == 0 &&
              strstr(csv, "emb_dim_152;concentration;asymmetry;") && strstr(csv, ";morph_flags\n") &&
              count_lines(csv) == N_IMAGES + 1,
          "exported CSV: the original's columns, then the statistics");
    free(csv);

    am_embeddings e = {0}, c = {0};
    snprintf(p, sizeof p, "%s/exported/%s.safetensors", dir, name);
    CHECK_OK(am_embeddings_read(&e, p));
    /* Runs of images are embedded side by side on the threads: one thread gives the same bits. */
    char again[900];
    snprintf(again, sizeof again, "inference -c settings.toml -n %s", model);
    const char *was = getenv("OMP_NUM_THREADS");
    char keep[32] = "";
    if (was) snprintf(keep, sizeof keep, "%s", was);
    setenv("OMP_NUM_THREADS", "1", 1);
    CHECK(run(again) == 0, "inference on one thread");
    if (keep[0]) setenv("OMP_NUM_THREADS", keep, 1);
    else unsetenv("OMP_NUM_THREADS");
    am_embeddings one = {0};
    CHECK_OK(am_embeddings_read(&one, p));
    CHECK(one.n == e.n && one.dim == e.dim && e.data &&
              memcmp(one.data, e.data, (size_t)(e.n * e.dim) * sizeof(float)) == 0,
          "the same embeddings on one thread and on all");
    am_embeddings_free(&one);
    snprintf(p, sizeof p, "%s/exported/%s.csv", dir, name);
    CHECK_OK(am_embeddings_read_csv(&c, p));
    CHECK(e.n == N_IMAGES && e.dim == 128 + AM_MORPH_FEATURES && e.labels && e.model && strcmp(e.model, name) == 0,
          "embeddings file");
    if (e.n == N_IMAGES && c.n == N_IMAGES) {
        int distinct = 0, in_range = 1, seen[10] = {0};
        for (int i = 0; i < N_IMAGES; i++) {
            in_range &= e.labels[i] >= 0 && e.labels[i] < 10;
            if (in_range && !seen[e.labels[i]]++) distinct++;
        }
        CHECK(in_range && distinct >= 3, "k-means labels (k = 10): %d distinct", distinct);
        am_test_close("CSV vs embeddings file", c.data, e.data, e.n * e.dim, 1e-5, 1e-6);
        CHECK(strstr(e.meta[5].filepath, "img05.fits") != NULL, "row → file mapping: %s", e.meta[5].filepath);
        /* the statistics: in both files, the same, and those of the image itself */
        int64_t gi = am_embeddings_stat_index(&e, "gini");
        CHECK(gi >= 0 && c.nstats == e.nstats && am_embeddings_stat_index(&c, "gini") == gi,
              "statistics in both files");
        if (gi >= 0 && c.nstats == e.nstats) {
            am_test_close("CSV vs embeddings file statistics", c.stats, e.stats, e.n * e.nstats, 1e-5, 1e-6);
            am_tensor img;
            char ip[900];
            snprintf(ip, sizeof ip, "%s/%s", dir, e.meta[5].filepath);
            CHECK_OK(am_fits_read(ip, NULL, &img, NULL));
            am_morphology mo;
            CHECK_OK(am_morphology_measure(img.data, img.shape[1], img.shape[2], NULL, &mo));
            CHECK(fabs(e.stats[5 * e.nstats + gi] - mo.gini) < 1e-6, "row 5 Gini %g, the image's %g",
                  e.stats[5 * e.nstats + gi], mo.gini);
            am_tensor_free(&img);
        }
    }
    /* a model with a NaN weight is refused by name, before any image is embedded */
    {
        char src[800], dst[800];
        snprintf(src, sizeof src, "%s/%s", dir, model);
        snprintf(dst, sizeof dst, "%s/nan_model.safetensors", dir);
        size_t len;
        char *bytes = am_test_slurp(src, &len);
        am_safetensors st;
        if (bytes && am_st_read(&st, src) == AM_OK) {
            const am_st_entry *w = am_st_find(&st, "online_encoder.network.conv1.weight");
            uint64_t hdr = 0;
            memcpy(&hdr, bytes, 8); /* little-endian header length (x86) */
            const float nan = NAN;
            if (w && 8 + hdr + w->begin + 4 <= len) memcpy(bytes + 8 + hdr + w->begin, &nan, 4);
            am_st_free(&st);
            FILE *nf = fopen(dst, "wb");
            if (nf) fwrite(bytes, 1, len, nf), fclose(nf);
            CHECK(run("inference -c settings.toml -n nan_model.safetensors") == 1, "a NaN model is refused");
            char *err = output("err.txt");
            CHECK(err && strstr(err, "weight online_encoder.network.conv1.weight holds NaN"), "names the weight: %s",
                  err ? err : "");
            free(err);
        }
        free(bytes);
    }
    /* statistics per channel: the same columns with _c<k>, and for one channel the sum's values */
    {
        char *orig = output("settings.toml"), ep[800];
        snprintf(ep, sizeof ep, "%s/each.toml", dir);
        FILE *ef = fopen(ep, "w");
        fprintf(ef, "morphology_channels = \"each\"\n%s", orig ? orig : "");
        fclose(ef);
        free(orig);
        char args2[900];
        snprintf(args2, sizeof args2, "inference -c each.toml -n %s", model);
        CHECK(run(args2) == 0, "inference with morphology_channels = each");
        am_embeddings pc = {0};
        snprintf(p, sizeof p, "%s/exported/%s.safetensors", dir, name);
        CHECK_OK(am_embeddings_read(&pc, p));
        int64_t g0 = am_embeddings_stat_index(&pc, "gini_c0"), g = am_embeddings_stat_index(&e, "gini");
        CHECK(g0 >= 0 && pc.nstats == e.nstats && g >= 0 && pc.stats[3 * pc.nstats + g0] == e.stats[3 * e.nstats + g],
              "per-channel columns (gini_c0 at %lld)", (long long)g0);
        am_embeddings_free(&pc);
    }
    /* eval mode: an image's embedding does not depend on the other images */
    snprintf(p, sizeof p, "%s/three.txt", dir);
    FILE *fp = fopen(p, "w");
    fputs("data/img02.fits\ndata/img00.fits\ndata/img01.fits\n", fp);
    fclose(fp);
    char args[900];
    snprintf(args, sizeof args, "infer -d three.txt -n %s -k 2", model);
    CHECK(run(args) == 0, "inference of three images");
    am_embeddings t = {0};
    snprintf(p, sizeof p, "%s/exported/%s.safetensors", dir, name);
    CHECK_OK(am_embeddings_read(&t, p));
    if (t.n == 3 && e.n == N_IMAGES) {
        am_test_close("img02 alone vs in the full set", t.data, e.data + 2 * e.dim, e.dim, 1e-5, 1e-6);
        am_test_close("img00 alone vs in the full set", t.data + t.dim, e.data, e.dim, 1e-5, 1e-6);
    }
    am_embeddings_free(&t);
    /* -m: one large image cut into its objects by a binary mask, one embedding per object */
    am_tensor big, mask;
    CHECK_OK(am_tensor_alloc(&big, 2, (int64_t[]){64, 80}));
    CHECK_OK(am_tensor_alloc(&mask, 2, (int64_t[]){64, 80}));
    const int cy[3] = {14, 40, 30}, cx[3] = {14, 20, 60};
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 80; x++) {
            double v = 0.01 * ((x * 5 + y * 3) % 7);
            int in = 0;
            for (int k = 0; k < 3; k++) {
                double r2 = (y - cy[k]) * (y - cy[k]) + (x - cx[k]) * (x - cx[k]);
                v += exp(-r2 / (10.0 + 10 * k));
                in |= r2 < 64;
            }
            big.data[y * 80 + x] = (float)v;
            mask.data[y * 80 + x] = in ? 1.0f : 0.0f;
        }
    snprintf(p, sizeof p, "%s/big.fits", dir);
    CHECK_OK(am_fits_write(p, &big, NULL));
    snprintf(p, sizeof p, "%s/mask.fits", dir);
    CHECK_OK(am_fits_write(p, &mask, NULL));
    am_tensor_free(&big);
    am_tensor_free(&mask);
    snprintf(args, sizeof args, "infer -d big.fits -m mask.fits -n %s -k 2", model);
    CHECK(run(args) == 0, "inference of mask objects");
    snprintf(p, sizeof p, "%s/exported/%s.safetensors", dir, name);
    CHECK_OK(am_embeddings_read(&t, p));
    CHECK(t.n == 3 && t.meta && t.meta[0].extra && strstr(t.meta[0].extra, "label="), "three mask objects, labelled");
    am_embeddings_free(&t);
    am_embeddings_free(&c);
    am_embeddings_free(&e);
}

/* Ctrl-C after the first epoch: a checkpoint and exit status 130; --resume finishes the run under
 * the same time label. */
static void check_interrupt_and_resume(void)
{
    write_settings("long.toml", 6);
    /* the earlier run's log moves away, so the only log is this run's */
    char from[700], to[700];
    snprintf(from, sizeof from, "%s/logs", dir);
    snprintf(to, sizeof to, "%s/logs_first", dir);
    CHECK(rename(from, to) == 0, "move logs/ aside");
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0 || !freopen("int_out.txt", "w", stdout) || !freopen("int_err.txt", "w", stderr)) _exit(99);
        execl(cli, cli, "training", "-c", "long.toml", (char *)NULL);
        _exit(98);
    }
    /* wait for the first epoch to end in the new log */
    char log[700] = "";
    int ended = 0;
    for (int i = 0; i < 6000 && !ended; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        if (find_one("logs", "", ".log", log, sizeof log) >= 1) {
            char full[800];
            snprintf(full, sizeof full, "%s/%s", dir, log);
            char *t = am_test_slurp(full, NULL);
            ended = t && strstr(t, "epochs = 6") && strstr(t, "[Epoch 1] Test OOS loss");
            free(t);
        }
    }
    CHECK(ended, "first epoch of the interrupted run finished");
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char *err = output("int_err.txt");
    CHECK(rc == 130, "Ctrl-C exit status %d: %s", rc, err ? err : "");
    char ckpt[700];
    if (rc == 130) {
        CHECK(err && strstr(err, "checkpoint saved to saved_models/checkpoint_"), "says where the checkpoint is");
        CHECK(find_one("saved_models", "checkpoint_", ".safetensors", ckpt, sizeof ckpt) >= 1, "checkpoint written");
        /* a resume with another learning rate or augmentation would not continue the same run */
        char *text = output("long.toml");
        char *lr = text ? strstr(text, "learning_rate = 6e-6") : NULL;
        if (lr) {
            memcpy(lr, "learning_rate = 7e-6", 20);
            char cp[700];
            snprintf(cp, sizeof cp, "%s/changed.toml", dir);
            FILE *cf = fopen(cp, "w");
            fputs(text, cf);
            fprintf(cf, "\n[augmentation]\nrotation.p = 0.5\n");
            fclose(cf);
            CHECK(run("training -c changed.toml --resume") == 1, "a changed resume is refused");
            char *e2 = output("err.txt");
            CHECK(e2 && strstr(e2, "written with 'learning_rate = 6e-06', this run has 'learning_rate = 7e-06'"),
                  "names the changed setting: %s", e2 ? e2 : "");
            free(e2);
        }
        CHECK(lr != NULL, "long.toml has its learning rate");
        free(text);
        /* the resume runs in the background; a second resume of the same run meanwhile is refused,
         * naming the first one's process */
        pid_t b = fork();
        if (b == 0) {
            if (chdir(dir) != 0 || !freopen("out.txt", "w", stdout) || !freopen("err.txt", "w", stderr)) _exit(99);
            execl(cli, cli, "training", "-c", "long.toml", "--resume", (char *)NULL);
            _exit(98);
        }
        int started = 0;
        for (int i = 0; i < 6000 && !started; i++) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
            char *t = output("err.txt");
            started = t && strstr(t, "resumed from");
            free(t);
        }
        CHECK(started, "the resume started");
        char refused[700];
        snprintf(refused, sizeof refused, "cd '%s' && '%s' training -c long.toml --resume >out2.txt 2>err2.txt", dir,
                 cli);
        int st2 = system(refused);
        char *err2 = output("err2.txt"), pidtxt[32];
        snprintf(pidtxt, sizeof pidtxt, "process %ld", (long)b);
        CHECK(WIFEXITED(st2) && WEXITSTATUS(st2) == 1 && err2 && strstr(err2, "is in use by") && strstr(err2, pidtxt),
              "a second resume of a running run is refused: %s", err2 ? err2 : "");
        free(err2);
        int bst = 0;
        waitpid(b, &bst, 0);
        CHECK(WIFEXITED(bst) && WEXITSTATUS(bst) == 0, "resume");
        char *out = output("err.txt");
        CHECK(out && strstr(out, "resumed from saved_models/checkpoint_") && strstr(out, "[Epoch 6] Training loss") &&
                  !strstr(out, "[Epoch 1] Training loss"),
              "resumed run continues at the next epoch: %s", out ? out : "");
        free(out);
        CHECK(find_one("saved_models", "improved_net_e_6_", ".safetensors", ckpt, sizeof ckpt) == 1,
              "the resumed run saved its model");
    }
    free(err);
}

/* The original package's example_settings.toml, byte for byte (n_layer_resnet, stacksize 3,
 * 5 epochs, representation_size 128 where the network gives 512), on the same images. */
static void check_original_example(void)
{
    char src[700], dst[700];
    snprintf(src, sizeof src, "%s", am_test_path("examples/settings/original_example.toml"));
    snprintf(dst, sizeof dst, "%s/example_settings.toml", dir);
    size_t len;
    char *text = am_test_slurp(src, &len);
    FILE *fp = fopen(dst, "wb");
    CHECK(text && fp && fwrite(text, 1, len, fp) == len, "copy %s", src);
    if (fp) fclose(fp);
    free(text);
    CHECK(run("train -c example_settings.toml") == 0, "the original's example trains");
    char *err = output("err.txt");
    CHECK(err && strstr(err, "representation_size = 128 does not match n_layer_resnet's 512 features") &&
              strstr(err, "[Epoch 5] Test OOS loss") && strstr(err, "Learning rate: 6.000e-06"),
          "warned about representation_size, ran 5 epochs at lr 6e-6: %s", err ? err : "");
    free(err);
    char model[700], full[800];
    CHECK(find_one("saved_models", "improved_net_e_5_", ".safetensors", model, sizeof model) == 1, "its model");
    snprintf(full, sizeof full, "%s/%s", dir, model);
    am_safetensors st;
    if (am_st_read(&st, full) == AM_OK) {
        CHECK(strcmp(am_st_meta(&st, "network_name"), "n_layer_resnet") == 0 &&
                  strcmp(am_st_meta(&st, "in_channels"), "3") == 0 && strcmp(am_st_meta(&st, "stacksize"), "3") == 0,
              "ResNet on 1 channel x stacksize 3");
        am_st_free(&st);
    } else {
        CHECK(0, "%s", am_errmsg());
    }
}

static void check_contract(void)
{
    CHECK(run("--version") == 0, "--version");
    char *out = output("out.txt");
    CHECK(out && strncmp(out, "astromorph ", 11) == 0, "version line");
    free(out);
    CHECK(run("--help") == 0, "--help");
    out = output("out.txt");
    CHECK(out && strstr(out, "training, train") && strstr(out, "inference, infer"), "help lists commands");
    free(out);
    CHECK(run("training --help") == 0 && run("infer --help") == 0, "COMMAND --help");
    CHECK(run("bogus") == 2, "unknown command");
    CHECK(run("train") == 2, "training without -c");
    char p[700];
    snprintf(p, sizeof p, "%s/bad.toml", dir);
    FILE *fp = fopen(p, "w");
    fputs("datafile = \"data/example_file.txt\"\nepochs = 0\n", fp);
    fclose(fp);
    CHECK(run("train -c bad.toml") == 1, "bad settings → exit 1");
    char *err = output("err.txt");
    CHECK(err && strcmp(err, "astromorph training: bad.toml:2:10: epochs = 0: must be > 0\n") == 0,
          "one-line reason: %s", err ? err : "");
    free(err);
    CHECK(run("infer -d data/example_file.txt -n nothing.safetensors") == 1, "missing model → exit 1");
}

/* network_settings.pretrained = a model of astromorph training: the run starts from its whole
 * BYOL state (with a learning rate of 1e-30 the trained weights are the start's to float
 * rounding, where a fresh start would differ entirely), and a model of another network is
 * refused by name before anything is trained. */
static void check_pretrained_start(const char *model)
{
    char p[800], pre[800];
    snprintf(p, sizeof p, "%s/pre", dir);
    mkdir(p, 0755);
    snprintf(pre, sizeof pre, "%s/pre/pre.toml", dir);
    FILE *fp = fopen(pre, "w");
    fprintf(fp,
            "datafile = \"%s/data/example_file.txt\"\nnetwork_name = \"amm\"\nepochs = 1\nbatch_size = 4\n"
            "learning_rate = 1e-30\nlr_schedule = \"constant\"\n[data_settings]\nstacksize = 3\n"
            "[byol_settings]\nprojection_size = 64\nprojection_hidden_size = 256\n"
            "[network_settings]\npretrained = \"%s/%s\"\n",
            dir, dir, model);
    fclose(fp);
    /* in its own folder, so that its log and models stand apart from the runs before */
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cd '%s/pre' && '%s' training -c pre.toml >../out.txt 2>../err.txt </dev/null", dir, cli);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "training from a model");
    char *err = output("err.txt");
    CHECK(err && strstr(err, "starting from") && strstr(err, "(an astromorph model)"), "says where it started: %s",
          err ? err : "");
    free(err);
    char got[700];
    CHECK(find_one("pre/saved_models", "improved_net_e_1_", ".safetensors", got, sizeof got) == 1, "its model");
    char full[900], start[900];
    snprintf(full, sizeof full, "%s/%s", dir, got);
    snprintf(start, sizeof start, "%s/%s", dir, model);
    am_safetensors a, b;
    CHECK_OK(am_st_read(&a, start));
    CHECK_OK(am_st_read(&b, full));
    static const char *const names[] = {"online_encoder.network.conv1.weight", "online_predictor.model.0.weight",
                                        "online_encoder.projector.model.3.weight"};
    for (int k = 0; a.buffer && b.buffer && k < 3; k++) {
        am_tensor x, y;
        if (am_st_get_f32(&a, names[k], &x) != AM_OK || am_st_get_f32(&b, names[k], &y) != AM_OK) {
            CHECK(0, "tensor %s in both models", names[k]);
            continue;
        }
        /* an Adam step moves a weight by about lr (the target, an average, moves towards these) */
        CHECK(am_test_close(names[k], y.data, x.data, am_tensor_numel(&x), 1e-6, 1e-6), "%s is the start's", names[k]);
        am_tensor_free(&x), am_tensor_free(&y);
    }
    if (a.buffer) am_st_free(&a);
    if (b.buffer) am_st_free(&b);
    /* another network's model is refused, naming both */
    snprintf(p, sizeof p, "%s/pre/bad.toml", dir);
    fp = fopen(p, "w");
    fprintf(fp,
            "datafile = \"%s/data/example_file.txt\"\nnetwork_name = \"n_layer_resnet\"\nepochs = 1\n"
            "[network_settings]\npretrained = \"%s/%s\"\n",
            dir, dir, model);
    fclose(fp);
    CHECK(run("training -c pre/bad.toml") == 1, "a model of another network is refused");
    err = output("err.txt");
    CHECK(err && strstr(err, "is a amm model, this run trains n_layer_resnet"), "names both networks: %s",
          err ? err : "");
    free(err);
}

/* A model fitted before the structure statistics (its hybrid fit holds the first version's 16)
 * still embeds: the same rows as the full fit's, cut to that prefix. */
static void check_first_statistics(const char *model)
{
    char full[800], data[800];
    snprintf(full, sizeof full, "%s/%s", dir, model);
    snprintf(data, sizeof data, "%s/data/example_file.txt", dir);
    am_model m;
    am_dataset *ds = NULL;
    am_dataset_options dopt;
    am_dataset_options_default(&dopt);
    CHECK_OK(am_model_open(&m, full));
    CHECK_OK(am_dataset_open(&ds, data, &dopt));
    if (!ds) return;
    am_embed_options o;
    am_embed_options_default(&o);
    o.progress = 0;
    am_embeddings now = {0}, old = {0};
    CHECK_OK(am_pipeline_embed(&m, ds, &o, &now));
    const int64_t d = m.hybrid.dim;
    CHECK(m.hybrid.nstat == AM_MORPH_FEATURES && now.dim == d + AM_MORPH_FEATURES, "a fit of %lld statistics",
          (long long)m.hybrid.nstat);
    m.hybrid.nstat = AM_MORPH_FEATURES_V1; /* its offsets and scales are a prefix already */
    CHECK_OK(am_pipeline_embed(&m, ds, &o, &old));
    int same = old.dim == d + AM_MORPH_FEATURES_V1 && old.n == now.n && now.data && old.data;
    for (int64_t i = 0; same && i < old.n; i++)
        same = !memcmp(old.data + i * old.dim, now.data + i * now.dim, (size_t)old.dim * sizeof(float));
    CHECK(same, "the first statistics' fit gives the full rows' first %lld values (dim %lld)", (long long)(d + 16),
          (long long)old.dim);
    m.hybrid.nstat = AM_MORPH_FEATURES;
    am_embeddings_free(&now), am_embeddings_free(&old);
    am_dataset_free(ds);
    am_model_close(&m);
}

/* Without a settings file: `training DATA` checks with our defaults; a run writes the settings it
 * used beside the model, which `training -c` reads back to the same settings; a checkpoint is a
 * model for inference, and `inference MODEL DATA` needs no options. */
static void check_zero_config(void)
{
    char p[800];
    snprintf(p, sizeof p, "%s/zc", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/zc/one.toml", dir);
    FILE *fp = fopen(p, "w");
    fprintf(fp, "epochs = 1\nbatch_size = 4\n");
    fclose(fp);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cd '%s/zc' && '%s' training ../data --check >../out.txt 2>../err.txt </dev/null", dir,
             cli);
    int rc = system(cmd);
    char *out = output("out.txt");
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0 && out && strstr(out, "settings and data are fine"),
          "training DATA --check with no settings file");
    free(out);
    snprintf(cmd, sizeof cmd, "cd '%s/zc' && '%s' training ../data -c one.toml >../out.txt 2>../err.txt </dev/null",
             dir, cli);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "training DATA -c FILE");
    char toml[700], model[700], ckpt[700];
    CHECK(find_one("zc/saved_models", "improved_net_e_1_", ".toml", toml, sizeof toml) == 1, "the run's settings");
    CHECK(find_one("zc/saved_models", "improved_net_e_1_", ".safetensors", model, sizeof model) == 1, "the model");
    CHECK(find_one("zc/saved_models", "checkpoint_", ".safetensors", ckpt, sizeof ckpt) == 1, "the checkpoint");
    /* the saved settings are the run's: read back, they print the same (but for the file's name) */
    am_settings a, b;
    char full[900], one[900];
    snprintf(full, sizeof full, "%s/%s", dir, toml);
    snprintf(one, sizeof one, "%s/zc/one.toml", dir);
    char data[900];
    snprintf(data, sizeof data, "%s/data", dir);
    am_settings_overrides ov = {.datafile = data};
    CHECK_OK(am_settings_load(&a, one, AM_SETTINGS_TRAINING, &ov));
    CHECK_OK(am_settings_load(&b, full, AM_SETTINGS_TRAINING, &ov));
    char *fa = am_settings_fingerprint(&a), *fb = am_settings_fingerprint(&b);
    CHECK(fa && fb && !strcmp(fa, fb) && a.train.epochs == 1 && b.train.epochs == 1,
          "the saved settings read back as the run's");
    free(fa), free(fb);
    am_settings_free(&a), am_settings_free(&b);
    /* a checkpoint as the model, model and data as words */
    snprintf(cmd, sizeof cmd, "cd '%s/zc' && '%s' inference %s ../data >../out.txt 2>../err.txt </dev/null", dir, cli,
             ckpt + 3);
    rc = system(cmd);
    char *err = output("err.txt");
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "inference CHECKPOINT DATA: %s", err ? err : "");
    free(err);
    char emb[700];
    CHECK(find_one("zc/exported", "checkpoint_", ".fits", emb, sizeof emb) == 1, "its FITS table");
}

/* Images of three bands: at our defaults (channels = "auto") the network sees their sum and the
 * hybrid embedding ends with the bands' colours, which tell the red sources from the blue ones
 * of the same shape; channels = "all" gives the network every band. */
static void check_bands(void)
{
    enum { NB = 8, S = 32 };
    char p[800], cmd[2000];
    am_rng rng; /* Gaussian noise: each band's sky is fitted to it */
    am_rng_init(&rng, 11, 0);
    snprintf(p, sizeof p, "%s/bands", dir);
    mkdir(p, 0755);
    for (int i = 0; i < NB; i++) {
        am_tensor t;
        CHECK_OK(am_tensor_alloc(&t, 3, (int64_t[]){3, S, S}));
        const double ratio = i % 2 ? 2.0 : 0.5; /* each band over the next: odd ones blue, even ones red */
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    double r2 = (x - S / 2.0) * (x - S / 2.0) + (y - S / 2.0) * (y - S / 2.0);
                    double v = 100 * pow(ratio, 2 - c) * exp(-r2 / (8.0 + i));
                    t.data[(c * S + y) * S + x] = (float)(v + 5 * c + 0.05 * am_rng_normal(&rng));
                }
        snprintf(p, sizeof p, "%s/bands/b%02d.fits", dir, i);
        CHECK_OK(am_fits_write(p, &t, NULL));
        am_tensor_free(&t);
    }
    /* `astromorph morphology` of the bands: the colours after the statistics */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' morphology bands >out.txt 2>err.txt </dev/null", dir, cli);
    int mrc = system(cmd);
    char *table = output("out.txt");
    const char *head_end = table ? strchr(table, '\n') : NULL;
    CHECK(WIFEXITED(mrc) && WEXITSTATUS(mrc) == 0 && head_end && count_lines(table) == NB + 1 &&
              strstr(table, ";morph_flags;colour_0_1;colour_1_2;colour_gradient_0_1;colour_gradient_1_2\n") ==
                  head_end - strlen(";morph_flags;colour_0_1;colour_1_2;colour_gradient_0_1;colour_gradient_1_2"),
          "morphology of 3 bands: %s", table ? table : "(no output)");
    free(table);
    const char *modes[] = {"auto", "all"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/bands_%s", dir, modes[k]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/bands_%s/s.toml", dir, modes[k]);
        FILE *fp = fopen(p, "w");
        fprintf(fp, "datafile = \"../bands\"\nepochs = 1\nbatch_size = 4\n[network_settings]\nchannels = \"%s\"\n",
                modes[k]);
        fclose(fp);
        snprintf(cmd, sizeof cmd, "cd '%s/bands_%s' && '%s' training -c s.toml >../out.txt 2>../err.txt </dev/null",
                 dir, modes[k], cli);
        int rc = system(cmd);
        char *err = output("err.txt");
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "training on 3 bands, channels = %s: %s", modes[k],
              err ? err : "");
        free(err);
        char model[700], sub[64];
        snprintf(sub, sizeof sub, "bands_%s/saved_models", modes[k]);
        if (find_one(sub, "improved_net_e_1_", ".safetensors", model, sizeof model) != 1) {
            CHECK(0, "the model of channels = %s", modes[k]);
            continue;
        }
        char path[1600];
        snprintf(path, sizeof path, "%s/%s", dir, model);
        am_model m;
        CHECK_OK(am_model_open(&m, path));
        const int nstat = am_morphology_feature_count(3);
        CHECK(nstat == AM_MORPH_FEATURES + 4, "3 bands: 2 colours and 2 gradients (%d statistics)", nstat);
        CHECK(m.channel_sum == (k == 0) && m.in_channels == (k == 0 ? 1 : 3) && m.hybrid.nstat == nstat,
              "channels = %s: sum %d, %d input channel(s), hybrid of %lld statistics", modes[k], m.channel_sum,
              m.in_channels, (long long)m.hybrid.nstat);
        int64_t dim = m.hybrid.dim;
        am_model_close(&m);
        snprintf(cmd, sizeof cmd, "cd '%s/bands_%s' && '%s' inference -c s.toml -n %s >../out.txt 2>../err.txt", dir,
                 modes[k], cli, model + strlen(sub) - strlen("saved_models"));
        rc = system(cmd);
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "inference on 3 bands, channels = %s", modes[k]);
        char emb[700];
        snprintf(sub, sizeof sub, "bands_%s/exported", modes[k]);
        if (find_one(sub, "improved_net_e_1_", ".safetensors", emb, sizeof emb) != 1) {
            CHECK(0, "the embeddings of channels = %s", modes[k]);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, emb);
        am_embeddings e = {0};
        CHECK_OK(am_embeddings_read(&e, path));
        CHECK(e.n == NB && e.dim == dim + nstat, "%lld rows of %lld values", (long long)e.n, (long long)e.dim);
        /* the first colour (band 0 - band 1, in magnitudes) z-scored: red sources above the mean */
        int right = 0;
        for (int64_t i = 0; e.data && e.dim == dim + nstat && i < e.n; i++) {
            const char *name = strrchr(e.meta[i].filepath, '/');
            int blue = name && atoi(name + 2) % 2;
            right += (e.data[i * e.dim + dim + AM_MORPH_FEATURES] > 0) == !blue;
        }
        CHECK(right == NB, "the colour column tells red from blue in %d of %d", right, NB);
        /* and the statistics stored beside the embeddings: -2.5 log10 2 for the blue ones */
        int64_t g = am_embeddings_stat_index(&e, "colour_0_1"),
                grad = am_embeddings_stat_index(&e, "colour_gradient_1_2");
        CHECK(g >= 0 && grad == g + 3, "colour columns in the statistics (%lld, %lld)", (long long)g, (long long)grad);
        for (int64_t i = 0; g >= 0 && e.stats && i < e.n; i++) {
            const char *name = strrchr(e.meta[i].filepath, '/');
            double want = (name && atoi(name + 2) % 2 ? -2.5 : 2.5) * log10(2.0), got = e.stats[i * e.nstats + g];
            CHECK(fabs(got - want) < 0.01, "%s: colour_0_1 %.4f, want %.4f", e.meta[i].filepath, got, want);
        }
        am_embeddings_free(&e);
    }
}

/* Trains one epoch in its own folder dir/SUB from SETTINGS (written to SUB/s.toml): 1 when it
 * succeeded, with its model's path (from dir) in model. */
static int train_in(const char *sub, const char *settings, char *model, size_t size)
{
    char p[800], cmd[2000];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/s.toml", dir, sub);
    FILE *fp = fopen(p, "w");
    if (!fp) return 0;
    fputs(settings, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "cd '%s/%s' && '%s' training -c s.toml >../out.txt 2>../err.txt </dev/null", dir, sub,
             cli);
    int rc = system(cmd);
    char *err = output("err.txt");
    int ok = WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
    if (!ok) fprintf(stderr, "training in %s said:\n%s\n", sub, err ? err : "");
    free(err);
    snprintf(p, sizeof p, "%s/saved_models", sub);
    return ok && find_one(p, "improved_net_e_", ".safetensors", model, size) == 1;
}

/* precision: what the model records, "auto" resolved by the CPU check that runs on every CPU
 * (BF16 only where oneDNN dispatches AMX), and an inference in BF16. */
static void check_precision(void)
{
    const char *isa = am_cpu_isa_name();
    CHECK(strcmp(isa, "other") != 0, "oneDNN's ISA has no name here");
    CHECK((am_precision_auto() == AM_PRECISION_BF16) == (strcmp(isa, "avx512_core_amx") == 0), "auto chose %s on %s",
          am_precision_auto() == AM_PRECISION_BF16 ? "BF16" : "FP32", isa);
    const char *kinds[] = {"bf16", "auto"};
    for (int k = 0; k < 2; k++) {
        char cmd[2000], settings[200], sub[64], model[700] = "";
        snprintf(sub, sizeof sub, "prec_%s", kinds[k]);
        snprintf(settings, sizeof settings, "datafile = \"../data\"\nepochs = 1\nbatch_size = 4\nprecision = \"%s\"\n",
                 kinds[k]);
        CHECK(train_in(sub, settings, model, sizeof model), "training with precision = %s", kinds[k]);
        char path[1600];
        snprintf(path, sizeof path, "%s/%s", dir, model);
        am_safetensors st;
        if (am_st_read(&st, path) == AM_OK) {
            const char *v = am_st_meta(&st, AM_META_PRECISION);
            const char *want = k == 0 || am_precision_auto() == AM_PRECISION_BF16 ? "bf16" : "fp32";
            CHECK(v && !strcmp(v, want), "precision = %s recorded as %s, not %s", kinds[k], v ? v : "(none)", want);
            am_st_free(&st);
        }
        if (k == 0) {
            snprintf(cmd, sizeof cmd, "cd '%s/prec_bf16' && '%s' inference -c s.toml -n %s >../out.txt 2>../err.txt",
                     dir, cli, model + strlen("prec_bf16/"));
            int rc = system(cmd);
            char *err = output("err.txt");
            CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0 && err && strstr(err, "convolutions in BF16"),
                  "inference with precision = bf16: %s", err ? err : "");
            free(err);
        }
    }
}

/* amm_width = 2 end to end: the model records it and holds the wide tensors, am_model_open and
 * inference rebuild the wide network (256 learned features before the statistics); a model file
 * claiming another width, or a width for the ResNet, is refused naming amm_width, and so is a
 * wide model as the start of a run of the original width. */
static void check_amm_width(void)
{
    char model[700], path[1600], cmd[2000];
    int trained =
        train_in("wide", "datafile = \"../data\"\nepochs = 1\nbatch_size = 4\n[network_settings]\namm_width = 2\n",
                 model, sizeof model);
    CHECK(trained, "training with amm_width = 2");
    if (!trained) return;
    char *err = output("err.txt");
    CHECK(err && strstr(err, "network amm x2 wide") && strstr(err, "256 features at 'avgpool'"),
          "the log names the width: %s", err ? err : "");
    free(err);
    snprintf(path, sizeof path, "%s/%s", dir, model);
    am_safetensors st;
    if (am_st_read(&st, path) == AM_OK) {
        const char *w = am_st_meta(&st, AM_META_AMM_WIDTH);
        CHECK(w && !strcmp(w, "2"), "model metadata: amm_width %s", w ? w : "(none)");
        am_tensor fc;
        CHECK(am_st_get_f32(&st, "online_encoder.network.fc.weight", &fc) == AM_OK && fc.ndim == 2 &&
                  fc.shape[0] == 64 && fc.shape[1] == 256,
              "the model's fc is 64 x 256");
        am_tensor_free(&fc);
        am_st_free(&st);
    }
    am_model m;
    CHECK_OK(am_model_open(&m, path));
    if (!m.byol) return;
    CHECK(m.amm_width == 2 && m.hybrid.dim == 256, "opened: amm_width %d, %lld learned features", m.amm_width,
          (long long)m.hybrid.dim);
    /* the same weights under metadata that do not fit them */
    const char *keys[] = {AM_META_NETWORK, AM_META_CHANNELS, AM_META_STACKSIZE, AM_META_AMM_WIDTH};
    const struct {
        const char *network, *width, *says;
    } bad[] = {{"amm", "5", "metadata 'amm_width' = 5 is beyond the widest amm (4)"},
               {"n_layer_resnet", "2", "metadata 'amm_width' = 2, but only amm has a width"},
               {"amm", "1", "gives 128 features, representation_size is 256"}};
    char relabelled[1700];
    snprintf(relabelled, sizeof relabelled, "%s/wide/relabelled.safetensors", dir);
    for (int k = 0; k < 3; k++) {
        const char *vals[] = {bad[k].network, "1", "1", bad[k].width};
        CHECK_OK(am_byol_save(m.byol, relabelled, keys, vals, 4));
        am_model other;
        am_status s = am_model_open(&other, relabelled);
        CHECK(s != AM_OK && strstr(am_errmsg(), bad[k].says), "%s with amm_width %s refused: %s", bad[k].network,
              bad[k].width, s != AM_OK ? am_errmsg() : "opened");
        if (s == AM_OK) am_model_close(&other);
    }
    am_model_close(&m);
    snprintf(cmd, sizeof cmd, "cd '%s/wide' && '%s' inference -c s.toml -n %s >../out.txt 2>../err.txt", dir, cli,
             model + strlen("wide/"));
    int rc = system(cmd);
    err = output("err.txt");
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "inference on the wide model: %s", err ? err : "");
    free(err);
    char emb[700];
    int exported = find_one("wide/exported", "improved_net_e_1_", ".safetensors", emb, sizeof emb) == 1;
    CHECK(exported, "the wide model's embeddings");
    if (exported) {
        snprintf(path, sizeof path, "%s/%s", dir, emb);
        am_embeddings e = {0};
        CHECK_OK(am_embeddings_read(&e, path));
        CHECK(e.n == N_IMAGES && e.dim == 256 + am_morphology_feature_count(1), "%lld rows of %lld values",
              (long long)e.n, (long long)e.dim);
        am_embeddings_free(&e);
    }
    /* a wide start for a run of width 1 */
    snprintf(path, sizeof path, "%s/wide/narrow.toml", dir);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "datafile = \"%s/data\"\nepochs = 1\n[network_settings]\npretrained = \"%s/%s\"\n", dir, dir, model);
    fclose(fp);
    CHECK(run("training -c wide/narrow.toml") == 1, "a wide start for a narrow run is refused");
    err = output("err.txt");
    CHECK(err && strstr(err, "has amm_width 2, this run's amm_width is 1"), "names both widths: %s", err ? err : "");
    free(err);
}

/* Beside a busy process the command waits passively (it sets OMP_WAIT_POLICY and starts itself
 * again); a policy the user set is kept. That it spins on an idle machine is not checked here:
 * a test machine is not idle on demand. */
static void check_wait_policy(void)
{
    char was[64] = "", spin[64] = "";
    if (getenv("OMP_WAIT_POLICY")) snprintf(was, sizeof was, "%s", getenv("OMP_WAIT_POLICY"));
    if (getenv("GOMP_SPINCOUNT")) snprintf(spin, sizeof spin, "%s", getenv("GOMP_SPINCOUNT"));
    unsetenv("OMP_WAIT_POLICY"), unsetenv("GOMP_SPINCOUNT");
    pid_t busy = fork();
    if (busy == 0)
        for (volatile unsigned long i = 0;; i++) {}
    CHECK(busy > 0, "fork");
    CHECK(run("training -c settings.toml") == 0, "training beside a busy process");
    char *err = output("err.txt");
    CHECK(err && strstr(err, "waiting passive"), "beside a busy process: %s", err ? err : "");
    free(err);
    setenv("OMP_WAIT_POLICY", "active", 1);
    CHECK(run("training -c settings.toml") == 0, "training with OMP_WAIT_POLICY=active");
    err = output("err.txt");
    CHECK(err && strstr(err, "waiting active"), "the user's policy is kept: %s", err ? err : "");
    free(err);
    if (busy > 0) kill(busy, SIGKILL), waitpid(busy, NULL, 0);
    if (was[0]) setenv("OMP_WAIT_POLICY", was, 1);
    else unsetenv("OMP_WAIT_POLICY");
    if (spin[0]) setenv("GOMP_SPINCOUNT", spin, 1);
}

int main(void)
{
    cli = getenv("AM_CLI");
    CHECK(cli != NULL, "AM_CLI is not set (ctest sets it)");
    if (!cli) return am_test_finish();
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    make_data();
    write_settings("settings.toml", 2);
    check_contract();
    CHECK(run("training -c settings.toml") == 0, "training");
    char *err = output("err.txt");
    if (!err || !strstr(err, "Model saved to")) fprintf(stderr, "training said:\n%s\n", err ? err : "");
    free(err);
    char label[32] = "", model[700] = "";
    check_training(label, sizeof label, model, sizeof model);
    char args[900];
    snprintf(args, sizeof args, "inference -c settings.toml -n %s", model);
    CHECK(run(args) == 0, "inference");
    err = output("err.txt");
    if (!err || !strstr(err, "Clustering")) fprintf(stderr, "inference said:\n%s\n", err ? err : "");
    free(err);
    check_inference(model);
    check_original_example();
    check_interrupt_and_resume();
    check_pretrained_start(model);
    check_first_statistics(model);
    check_zero_config();
    check_bands();
    check_precision();
    check_amm_width();
    check_wait_policy();
    /* every output was written under a temporary name and renamed: none may be left */
    CHECK(count_temporaries(dir) == 0, "temporary files left in %s", dir);
    return am_test_finish();
}
