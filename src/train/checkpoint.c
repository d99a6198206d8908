/* Checkpoints: a BYOL model file (so it also loads as a model) plus Adam's moments under
 * "optimizer.exp_avg.<name>" / "optimizer.exp_avg_sq.<name>" and the trainer's position in
 * __metadata__. The random streams are keyed by (seed, epoch, image, view), so seed, epoch and
 * position restore the RNG exactly. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

#define CKPT_VERSION "1"

static am_status meta_i64(am_st_writer *w, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return am_st_writer_meta(w, key, buf);
}

static am_status meta_f64(am_st_writer *w, const char *key, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v); /* round-trips exactly */
    return am_st_writer_meta(w, key, buf);
}

static am_status write_all(am_trainer *t, am_st_writer *w)
{
    AM_TRY(am_byol_write_state(t->byol, w));
    char name[512];
    for (size_t i = 0; i < t->nparams; i++) {
        const am_tensor *p = &t->params[i]->value;
        snprintf(name, sizeof name, "optimizer.exp_avg.%s", t->param_names[i]);
        AM_TRY(am_st_writer_add_ref(w, name, AM_DT_F32, p->ndim, p->shape, t->adam.m[i]));
        snprintf(name, sizeof name, "optimizer.exp_avg_sq.%s", t->param_names[i]);
        AM_TRY(am_st_writer_add_ref(w, name, AM_DT_F32, p->ndim, p->shape, t->adam.v[i]));
    }
    AM_TRY(am_st_writer_meta(w, "checkpoint_version", CKPT_VERSION));
    AM_TRY(meta_i64(w, "epoch", t->epoch));
    AM_TRY(meta_i64(w, "position", t->pos));
    AM_TRY(meta_i64(w, "steps", t->steps));
    AM_TRY(meta_i64(w, "adam_step", t->adam.step));
    AM_TRY(meta_f64(w, "epoch_loss_sum", t->epoch_loss));
    AM_TRY(meta_i64(w, "tested", t->tested));
    AM_TRY(meta_i64(w, "seed", (int64_t)t->s.seed));
    AM_TRY(meta_i64(w, "items", t->src.count));
    AM_TRY(meta_i64(w, "batch_size", t->s.batch_size));
    AM_TRY(meta_i64(w, "images_per_forward", t->s.images_per_forward));
    AM_TRY(meta_i64(w, "max_forward_pixels", t->s.max_forward_pixels));
    AM_TRY(meta_i64(w, "replicas", t->nglobal)); /* over all ranks: what the results depend on */
    AM_TRY(meta_f64(w, "test_fraction", t->s.test_fraction));
    AM_TRY(meta_f64(w, "learning_rate", t->s.learning_rate));
    AM_TRY(meta_i64(w, "schedule", t->s.schedule));
    AM_TRY(meta_i64(w, "norm", t->s.norm));
    if (t->s.fingerprint) AM_TRY(am_st_writer_meta(w, "settings", t->s.fingerprint));
    for (int i = 0; i < t->s.n_meta; i++) AM_TRY(am_st_writer_meta(w, t->s.meta_keys[i], t->s.meta_values[i]));
    return meta_f64(w, "next_lr", am_trainer_lr(t));
}

am_status am_checkpoint_write(am_trainer *t, const char *path)
{
    am_st_writer *w = am_st_writer_new();
    if (!w) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_status s = write_all(t, w);
    if (s == AM_OK) s = am_st_writer_write(w, path);
    am_st_writer_free(w);
    return s == AM_OK ? s : am_error_prefix(s, "checkpoint %s", path);
}

static am_status get_i64(const am_safetensors *st, const char *key, int64_t *v)
{
    const char *s = am_st_meta(st, key);
    if (!s) return am_error(AM_ERR_FORMAT, "no '%s' in the checkpoint metadata", key);
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return am_error(AM_ERR_FORMAT, "checkpoint metadata %s = '%s' is not an integer", key, s);
    *v = (int64_t)x;
    return AM_OK;
}

static am_status get_f64(const am_safetensors *st, const char *key, double *v)
{
    const char *s = am_st_meta(st, key);
    if (!s) return am_error(AM_ERR_FORMAT, "no '%s' in the checkpoint metadata", key);
    char *end;
    *v = strtod(s, &end);
    if (*end || end == s) return am_error(AM_ERR_FORMAT, "checkpoint metadata %s = '%s' is not a number", key, s);
    return AM_OK;
}

/* A setting that changes the trajectory must be what the checkpoint was written with. */
static am_status same(const am_safetensors *st, const char *key, int64_t want)
{
    int64_t v;
    AM_TRY(get_i64(st, key, &v));
    if (v != want)
        return am_error(AM_ERR_VALUE, "the checkpoint was written with %s = %" PRId64 ", this run has %" PRId64, key, v,
                        want);
    return AM_OK;
}

/* The first line where the checkpoint's settings and this run's differ, as an error. */
/* A fingerprint's lines (am_settings_fingerprint): "[table]" headers, then "key = value" or
 * "# key: not set" lines; a key is known by its table and name. */
typedef struct {
    const char *line, *table; /* the line, the last header before it ("" before any) */
    size_t len, tlen; /* their lengths */
    size_t kstart, klen; /* where the key starts in the line, and its length */
} fp_line;

/* The next line of text at *at, advancing *at; the table it is in kept in *table and *tlen. 0 at the end. */
static int next_line(const char **at, const char **table, size_t *tlen, fp_line *l)
{
    for (;;) {
        if (!**at) return 0;
        const char *p = *at;
        const size_t len = strcspn(p, "\n");
        *at = p + len + (p[len] == '\n');
        if (len == 0) continue;
        if (p[0] == '[') {
            *table = p, *tlen = len;
            continue;
        }
        l->line = p, l->len = len, l->table = *table, l->tlen = *tlen;
        l->kstart = p[0] == '#' && len > 2 ? 2 : 0;
        const char *end = p[0] == '#' ? memchr(p, ':', len) : memchr(p, '=', len);
        size_t k = end ? (size_t)(end - p) : len;
        while (k > l->kstart && p[k - 1] == ' ') k--;
        l->klen = k - l->kstart;
        return 1;
    }
}

static int same_key(const fp_line *a, const fp_line *b)
{
    return a->tlen == b->tlen && !memcmp(a->table, b->table, a->tlen) && a->klen == b->klen &&
           !memcmp(a->line + a->kstart, b->line + b->kstart, a->klen);
}

/* The line of `text` with l's key, or 0. */
static int find_key(const char *text, const fp_line *l, fp_line *out)
{
    const char *at = text, *table = "";
    size_t tlen = 0;
    while (next_line(&at, &table, &tlen, out))
        if (same_key(out, l)) return 1;
    return 0;
}

static int same_text(const fp_line *a, const fp_line *b)
{
    return a->len == b->len && !memcmp(a->line, b->line, a->len);
}

am_status am_checkpoint_same_settings(const char *then, const char *now, const char *defaults)
{
    const char *at = now, *table = "";
    size_t tlen = 0;
    fp_line l, t, d;
    while (next_line(&at, &table, &tlen, &l)) {
        if (find_key(then, &l, &t)) {
            if (!same_text(&t, &l))
                return am_error(AM_ERR_VALUE,
                                "the checkpoint was written with '%.*s', this run has '%.*s' (settings that change "
                                "the training cannot change on resume)",
                                (int)t.len, t.line, (int)l.len, l.line);
        } else if (!defaults || !find_key(defaults, &l, &d) || !same_text(&d, &l))
            return am_error(AM_ERR_VALUE,
                            "the checkpoint was written before '%.*s' existed, so with its default; this run has "
                            "'%.*s' (settings that change the training cannot change on resume)",
                            (int)l.klen, l.line + l.kstart, (int)l.len, l.line);
    }
    /* a key this version no longer has: its setting cannot be honoured */
    at = then, table = "", tlen = 0;
    while (next_line(&at, &table, &tlen, &t))
        if (!find_key(now, &t, &l))
            return am_error(AM_ERR_VALUE, "the checkpoint was written with '%.*s', which this version does not know",
                            (int)t.len, t.line);
    return AM_OK;
}

static am_status read_all(am_trainer *t, const am_safetensors *st)
{
    const char *v = am_st_meta(st, "checkpoint_version");
    if (!v || strcmp(v, CKPT_VERSION) != 0)
        return am_error(AM_ERR_FORMAT, "not a training checkpoint (checkpoint_version '%s')", v ? v : "");
    AM_TRY(same(st, "items", t->src.count));
    const char *then = am_st_meta(st, "settings");
    if (then && t->s.fingerprint)
        AM_TRY(am_checkpoint_same_settings(then, t->s.fingerprint, t->s.fingerprint_defaults));
    AM_TRY(same(st, "seed", (int64_t)t->s.seed));
    AM_TRY(same(st, "batch_size", t->s.batch_size));
    AM_TRY(same(st, "images_per_forward", t->s.images_per_forward));
    AM_TRY(same(st, "max_forward_pixels", t->s.max_forward_pixels));
    AM_TRY(same(st, "replicas", t->nglobal));
    double tf;
    AM_TRY(get_f64(st, "test_fraction", &tf));
    if (tf != t->s.test_fraction)
        return am_error(AM_ERR_VALUE, "the checkpoint was written with test_fraction = %g, this run has %g", tf,
                        t->s.test_fraction);
    int64_t epoch, pos, steps, adam_step, tested;
    double loss;
    AM_TRY(get_i64(st, "epoch", &epoch));
    AM_TRY(get_i64(st, "position", &pos));
    AM_TRY(get_i64(st, "steps", &steps));
    AM_TRY(get_i64(st, "adam_step", &adam_step));
    AM_TRY(get_i64(st, "tested", &tested));
    AM_TRY(get_f64(st, "epoch_loss_sum", &loss));
    if (epoch < 0 || pos < 0 || pos > t->ntrain || steps < 0 || adam_step < 0)
        return am_error(AM_ERR_FORMAT, "checkpoint position (epoch %" PRId64 ", image %" PRId64 ") is invalid", epoch,
                        pos);

    AM_TRY(am_byol_load_state(t->byol, st));
    char name[512];
    for (size_t i = 0; i < t->nparams; i++) {
        int64_t n = am_tensor_numel(&t->params[i]->value);
        snprintf(name, sizeof name, "optimizer.exp_avg.%s", t->param_names[i]);
        AM_TRY(am_st_copy_f32(st, name, t->adam.m[i], n));
        snprintf(name, sizeof name, "optimizer.exp_avg_sq.%s", t->param_names[i]);
        AM_TRY(am_st_copy_f32(st, name, t->adam.v[i], n));
    }
    t->epoch = (int)epoch;
    t->pos = pos;
    t->steps = steps;
    t->adam.step = adam_step;
    t->tested = tested != 0;
    t->epoch_loss = loss;
    t->last_ckpt_epoch = t->epoch;
    return AM_OK;
}

am_status am_checkpoint_read(am_trainer *t, const char *path)
{
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    am_status s = read_all(t, &st);
    am_st_free(&st);
    return s == AM_OK ? s : am_error_prefix(s, "checkpoint %s", path);
}
