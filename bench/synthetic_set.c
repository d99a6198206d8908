/* A labelled synthetic morphology set as FITS files, to measure whether training helps:
 * eight classes (point source, inclined disk, ring, double ring, two-armed spiral, binary,
 * filament, clumpy cloud), each with random size, orientation, position, brightness and noise.
 *
 *   synthetic_set OUTDIR [--per-class N (40)] [--size S (64)] [--sizes S1,S2,... ] [--seed K (1)]
 *
 * --sizes draws each image's side from the list (images of several sizes, as real data).
 * Writes OUTDIR/img_0000.fits ... (OBJECT = class name), OUTDIR/files.txt (the data list) and
 * OUTDIR/labels.txt (the class index of each line of files.txt). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/fits.h"
#include "astromorph/meta.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "core/internal.h"

enum { POINT, DISK, RING, DOUBLE_RING, SPIRAL, BINARY, FILAMENT, CLUMPY, NCLASS };
static const char *class_name[NCLASS] = {"point",  "disk",   "ring",     "double_ring",
                                         "spiral", "binary", "filament", "clumpy"};

static double uni(am_rng *r, double a, double b) { return a + (b - a) * am_rng_uniform(r); }

static double gauss2(double dx, double dy, double s) { return exp(-(dx * dx + dy * dy) / (2 * s * s)); }

/* Brightness of class c at (x, y) relative to the centre, in a frame rotated by the caller. */
typedef struct shape {
    int cls;
    double size, incl, pa, sep, width, twist;
    double clump[12][3]; /* x, y, sigma */
} shape;

static double profile(const shape *s, double x, double y)
{
    double c = cos(s->pa), sn = sin(s->pa);
    double u = c * x + sn * y, v = (-sn * x + c * y) / s->incl; /* inclined: the minor axis squeezed */
    double r = sqrt(u * u + v * v);
    switch (s->cls) {
    case POINT: return gauss2(x, y, 1.2);
    case DISK: return exp(-r / (0.35 * s->size));
    case RING: return exp(-pow((r - s->size) / s->width, 2));
    case DOUBLE_RING:
        return exp(-pow((r - s->size) / s->width, 2)) + 0.8 * exp(-pow((r - 0.5 * s->size) / s->width, 2));
    case SPIRAL: {
        double th = atan2(v, u), best = 0;
        for (int arm = 0; arm < 2; arm++) {
            /* Logarithmic arm r = a·exp(b·θ): distance to it along the radius, over a few turns. */
            for (int turn = -1; turn <= 2; turn++) {
                double t = th + M_PI * arm + 2 * M_PI * turn;
                double ra = 2.0 * exp(s->twist * t);
                if (ra > 1.3 * s->size) continue;
                double d = exp(-pow((r - ra) / s->width, 2));
                if (d > best) best = d;
            }
        }
        return best * exp(-r / (0.6 * s->size)) + 0.6 * gauss2(u, v, 1.5);
    }
    case BINARY: return gauss2(u - s->sep, v * s->incl, 1.3) + 0.7 * gauss2(u + s->sep, v * s->incl, 1.3);
    case FILAMENT: {
        double bend = 0.02 * s->twist * u * u; /* a gently curved line */
        return exp(-pow((v * s->incl - bend) / s->width, 2)) * exp(-pow(u / (1.4 * s->size), 4));
    }
    default: {
        double sum = 0;
        for (int k = 0; k < 12; k++) sum += gauss2(x - s->clump[k][0], y - s->clump[k][1], s->clump[k][2]);
        return sum;
    }
    }
}

static void draw(float *img, int n, int cls, am_rng *r)
{
    shape s = {.cls = cls};
    s.size = uni(r, 0.12, 0.3) * n;
    s.incl = uni(r, 0.35, 1.0);
    s.pa = uni(r, 0, M_PI);
    s.sep = uni(r, 0.08, 0.2) * n;
    s.width = uni(r, 1.0, 2.2);
    s.twist = uni(r, 0.18, 0.32);
    if (cls == RING || cls == DOUBLE_RING) s.incl = uni(r, 0.5, 1.0);
    for (int k = 0; k < 12; k++)
        s.clump[k][0] = uni(r, -0.25, 0.25) * n, s.clump[k][1] = uni(r, -0.25, 0.25) * n,
        s.clump[k][2] = uni(r, 1.0, 3.5);
    double cx = (n - 1) / 2.0 + uni(r, -0.08, 0.08) * n, cy = (n - 1) / 2.0 + uni(r, -0.08, 0.08) * n;
    double peak = 0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double v = profile(&s, x - cx, y - cy);
            img[y * n + x] = (float)v;
            if (v > peak) peak = v;
        }
    /* Flux scale and noise vary over orders of magnitude, as between real observations. */
    double flux = pow(10, uni(r, -1, 2)), noise = uni(r, 0.02, 0.12);
    for (int i = 0; i < n * n; i++)
        img[i] = (float)(flux * (img[i] / (peak > 0 ? peak : 1) + noise * am_rng_normal(r)));
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s OUTDIR [--per-class N] [--size S] [--seed K]\n", argv[0]);
        return 2;
    }
    const char *out = argv[1];
    int per = 40, n = 64, sizes[16], nsizes = 0;
    uint64_t seed = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--per-class")) per = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--sizes"))
            for (char *p = argv[i + 1]; *p && nsizes < 16; p += *p == ',') sizes[nsizes++] = (int)strtol(p, &p, 10);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int biggest = n;
    for (int i = 0; i < nsizes; i++) biggest = sizes[i] > biggest ? sizes[i] : biggest;
    for (int i = 0; i < nsizes; i++)
        if (sizes[i] < 16) n = 0;
    if (per < 1 || n < 16) {
        fprintf(stderr, "--per-class must be >= 1 and --size >= 16\n");
        return 2;
    }
    if (am_mkdirs(out) != AM_OK) {
        fprintf(stderr, "%s\n", am_errmsg());
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/files.txt", out);
    FILE *files = fopen(path, "w");
    snprintf(path, sizeof path, "%s/labels.txt", out);
    FILE *labels = fopen(path, "w");
    if (!files || !labels) {
        fprintf(stderr, "%s: cannot write the lists\n", out);
        return 1;
    }
    am_tensor img;
    if (am_tensor_alloc4(&img, 1, 1, biggest, biggest) != AM_OK) return 1;
    int k = 0;
    /* Classes interleaved, so any prefix of the list is balanced. */
    for (int i = 0; i < per; i++)
        for (int c = 0; c < NCLASS; c++, k++) {
            am_rng r;
            am_rng_init(&r, seed, am_rng_stream(c, i, 0));
            int side = nsizes ? sizes[am_rng_below(&r, (uint32_t)nsizes)] : n;
            img.ndim = 3, img.shape[0] = 1, img.shape[1] = side, img.shape[2] = side;
            draw(img.data, side, c, &r);
            am_meta m;
            am_meta_init(&m);
            snprintf(m.object, sizeof m.object, "%s", class_name[c]);
            snprintf(path, sizeof path, "%s/img_%04d.fits", out, k);
            if (am_fits_write(path, &img, &m) != AM_OK) {
                fprintf(stderr, "%s\n", am_errmsg());
                return 1;
            }
            fprintf(files, "img_%04d.fits\n", k);
            fprintf(labels, "%d\n", c);
        }
    fclose(files);
    fclose(labels);
    am_tensor_free(&img);
    printf("%d images of %d classes in %s\n", k, NCLASS, out);
    return 0;
}
