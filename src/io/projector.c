/* TensorBoard projector files. Rows stream to tensors.tsv and metadata.tsv as items arrive;
 * thumbnails are placed into the sprite in memory, since PNG rows need every tile of a grid row. */
#include "astromorph/projector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/png.h"
#include "astromorph/runtime.h"
#include "core/internal.h"

struct am_projector {
    char *dir;
    int64_t n, dim, added;
    int with_sprite, thumb, grid, any_rgb;
    uint8_t *sprite; /* (grid·thumb)² RGB, black where no thumbnail */
    am_atomic_file tensors, metadata;
};

static const char HEADER[] = "cluster\tobject\tright ascension\tdeclination\trest freq\tfilepath\n";

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static am_status open_in(am_atomic_file *af, const char *dir, const char *name)
{
    char *path = join(dir, name);
    if (!path) return am_error(AM_ERR_NOMEM, "%s: out of memory", dir);
    am_status s = am_atomic_open(af, path, 1);
    free(path);
    return s;
}

void am_projector_abort(am_projector *p)
{
    if (!p) return;
    am_atomic_abort(&p->tensors);
    am_atomic_abort(&p->metadata);
    free(p->sprite);
    free(p->dir);
    free(p);
}

am_status am_projector_open(am_projector **out, const char *dir, int64_t n, int64_t dim, int with_sprite)
{
    *out = NULL;
    if (!dir || !dir[0]) return am_error(AM_ERR_VALUE, "projector: empty folder name");
    if (n <= 0 || dim <= 0)
        return am_error(AM_ERR_VALUE, "%s: projector needs items and dimensions (n=%lld, dim=%lld)", dir, (long long)n,
                        (long long)dim);
    int grid = (int)ceil(sqrt((double)n));
    while ((int64_t)grid * grid < n) grid++;
    if (with_sprite && grid > AM_PROJECTOR_SPRITE_MAX)
        return am_error(AM_ERR_VALUE, "%s: %lld images do not fit a %d-px sprite", dir, (long long)n,
                        AM_PROJECTOR_SPRITE_MAX);
    AM_TRY(am_mkdirs(dir));
    am_projector *p = calloc(1, sizeof *p);
    if (!p) return am_error(AM_ERR_NOMEM, "%s: out of memory", dir);
    p->n = n;
    p->dim = dim;
    p->with_sprite = with_sprite != 0;
    p->grid = grid;
    p->thumb = AM_PROJECTOR_THUMB;
    /* TensorBoard refuses sprites over 8192 px a side: shrink the tiles to fit. */
    if ((int64_t)grid * p->thumb > AM_PROJECTOR_SPRITE_MAX) p->thumb = AM_PROJECTOR_SPRITE_MAX / grid;
    p->dir = join(dir, "");
    am_status s = p->dir ? AM_OK : am_error(AM_ERR_NOMEM, "%s: out of memory", dir);
    if (s == AM_OK) p->dir[strlen(p->dir) - 1] = '\0';
    if (s == AM_OK) s = open_in(&p->tensors, dir, "tensors.tsv");
    if (s == AM_OK) s = open_in(&p->metadata, dir, "metadata.tsv");
    if (s == AM_OK && fputs(HEADER, p->metadata.fp) == EOF)
        s = am_error(AM_ERR_IO, "%s/metadata.tsv: write failed: %s", dir, am_errno_text());
    if (s == AM_OK && p->with_sprite) {
        size_t side = (size_t)grid * (size_t)p->thumb;
        p->sprite = calloc(side * side, 3);
        if (!p->sprite) s = am_error(AM_ERR_NOMEM, "%s: out of memory for a %zu-px sprite", dir, side);
    }
    if (s != AM_OK) {
        am_projector_abort(p);
        return s;
    }
    *out = p;
    return AM_OK;
}

int am_projector_thumb_size(const am_projector *p) { return p ? p->thumb : AM_PROJECTOR_THUMB; }

/* A metadata cell: tabs and line breaks would break the TSV, an empty cell reads as N/A. */
static void put_cell(FILE *fp, const char *s, int last)
{
    if (!s || !s[0]) s = "N/A";
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, fp);
    fputc(last ? '\n' : '\t', fp);
}

static am_status place_thumb(am_projector *p, const am_thumbnail *t)
{
    am_thumbnail resized = {0};
    if (t->size != p->thumb) {
        AM_TRY(am_thumbnail_resize(t, p->thumb, &resized));
        t = &resized;
    }
    int64_t k = p->added;
    size_t side = (size_t)p->grid * (size_t)p->thumb;
    size_t x0 = (size_t)(k % p->grid) * (size_t)p->thumb, y0 = (size_t)(k / p->grid) * (size_t)p->thumb;
    p->any_rgb |= t->channels == 3;
    for (int y = 0; y < p->thumb; y++) {
        uint8_t *dst = p->sprite + ((y0 + (size_t)y) * side + x0) * 3;
        const uint8_t *src = t->pixels + (size_t)y * (size_t)p->thumb * (size_t)t->channels;
        for (int x = 0; x < p->thumb; x++, dst += 3, src += t->channels) {
            dst[0] = src[0];
            dst[1] = src[t->channels == 3 ? 1 : 0];
            dst[2] = src[t->channels == 3 ? 2 : 0];
        }
    }
    am_thumbnail_free(&resized);
    return AM_OK;
}

am_status am_projector_add(am_projector *p, const float *embedding, int cluster, const am_meta *meta,
                           const am_thumbnail *thumb)
{
    if (!p || !embedding) return am_error(AM_ERR_VALUE, "projector: no projector or no embedding");
    if (p->added >= p->n)
        return am_error(AM_ERR_VALUE, "%s: more than the %lld items announced", p->dir, (long long)p->n);
    for (int64_t j = 0; j < p->dim; j++)
        if (!isfinite(embedding[j]))
            return am_error(AM_ERR_NUMERIC, "%s: embedding %lld has a non-finite value at %lld", p->dir,
                            (long long)p->added, (long long)j);
    if (thumb && (!thumb->pixels || thumb->size < 1 || (thumb->channels != 1 && thumb->channels != 3)))
        return am_error(AM_ERR_VALUE, "%s: bad thumbnail for item %lld", p->dir, (long long)p->added);

    FILE *t = p->tensors.fp;
    for (int64_t j = 0; j < p->dim; j++) fprintf(t, j + 1 < p->dim ? "%.9g\t" : "%.9g\n", (double)embedding[j]);
    FILE *m = p->metadata.fp;
    char num[16];
    snprintf(num, sizeof num, "%d", cluster);
    put_cell(m, cluster >= 0 ? num : NULL, 0);
    put_cell(m, meta ? meta->object : NULL, 0);
    put_cell(m, meta ? meta->ra : NULL, 0);
    put_cell(m, meta ? meta->dec : NULL, 0);
    put_cell(m, meta ? meta->restfreq : NULL, 0);
    put_cell(m, meta ? meta->filepath : NULL, 1);
    if (ferror(t) || ferror(m)) return am_error(AM_ERR_IO, "%s: write failed: %s", p->dir, am_errno_text());
    if (p->with_sprite && thumb) AM_TRY(place_thumb(p, thumb));
    p->added++;
    return AM_OK;
}

static am_status write_sprite(am_projector *p)
{
    int side = p->grid * p->thumb;
    char *path = join(p->dir, "sprite.png");
    if (!path) return am_error(AM_ERR_NOMEM, "%s: out of memory", p->dir);
    /* All-gray thumbnails make a gray sprite, a third of the size. */
    if (!p->any_rgb) {
        for (size_t i = 0; i < (size_t)side * (size_t)side; i++) p->sprite[i] = p->sprite[3 * i];
    }
    am_status s = am_png_write(path, p->sprite, side, side, p->any_rgb ? 3 : 1, 0);
    free(path);
    return s;
}

static am_status write_config(am_projector *p)
{
    am_atomic_file af;
    AM_TRY(open_in(&af, p->dir, "projector_config.pbtxt"));
    fputs("embeddings {\n"
          "  tensor_name: \"embeddings\"\n"
          "  tensor_path: \"tensors.tsv\"\n"
          "  metadata_path: \"metadata.tsv\"\n",
          af.fp);
    if (p->with_sprite)
        fprintf(af.fp,
                "  sprite {\n"
                "    image_path: \"sprite.png\"\n"
                "    single_image_dim: %d\n"
                "    single_image_dim: %d\n"
                "  }\n",
                p->thumb, p->thumb);
    fputs("}\n", af.fp);
    return am_atomic_commit(&af);
}

am_status am_projector_commit(am_projector *p)
{
    if (!p) return am_error(AM_ERR_VALUE, "projector: not open");
    am_status s = AM_OK;
    if (p->added != p->n)
        s = am_error(AM_ERR_VALUE, "%s: %lld of %lld items added", p->dir, (long long)p->added, (long long)p->n);
    if (s == AM_OK && p->with_sprite) s = write_sprite(p);
    if (s == AM_OK) s = am_atomic_commit(&p->tensors);
    if (s == AM_OK) s = am_atomic_commit(&p->metadata);
    /* The config goes last: TensorBoard finds nothing until every file it names is in place. */
    if (s == AM_OK) s = write_config(p);
    am_projector_abort(p);
    return s;
}

am_status am_projector_write(const char *dir, int64_t n, int64_t dim, const float *embeddings, const int *clusters,
                             const am_meta *meta, const am_thumbnail *thumbs)
{
    if (!embeddings) return am_error(AM_ERR_VALUE, "%s: no embeddings", dir ? dir : "projector");
    am_projector *p;
    AM_TRY(am_projector_open(&p, dir, n, dim, thumbs != NULL));
    for (int64_t i = 0; i < n; i++) {
        am_status s = am_projector_add(p, embeddings + i * dim, clusters ? clusters[i] : -1, meta ? &meta[i] : NULL,
                                       thumbs ? &thumbs[i] : NULL);
        if (s != AM_OK) {
            am_projector_abort(p);
            return s;
        }
    }
    return am_projector_commit(p);
}
