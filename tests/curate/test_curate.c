/* Curation on generated maps with planted sources of known positions: every source found, its
 * centre within a pixel, one cutout per source (a double source is one), nothing below the
 * threshold, the cutouts' WCS the parent's, the same with SEP's grouping, and an ALMA-like 4-D
 * primary-beam-corrected map with NaN outside the beam curated with its .pb response. */
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/curate.h"
#include "astromorph/fits.h"
#include "astromorph/rng.h"
#include "data/fits_internal.h"
#include "test_util.h"

enum { W = 420, H = 300, NSRC = 6 };
static const double src_x[NSRC] = {60.3, 180.7, 300.2, 75.6, 210.4, 350.9};
static const double src_y[NSRC] = {70.4, 60.8, 90.1, 220.3, 200.6, 230.2};
static const double src_peak[NSRC] = {40, 25, 60, 30, 50, 20}; /* in units of the noise */
static const double src_sigma[NSRC] = {2.5, 3.0, 2.0, 3.5, 2.5, 3.0};
static char dir[512];

/* Noise of RMS 1 on a background of 5, the planted sources, a faint one (2 sigma peak: below the
 * threshold) and, at (330, 160), a double source: two blobs 10 pixels apart (two groups, one source). */
static void make_map(float *v, uint64_t seed)
{
    am_rng r;
    am_rng_init(&r, seed, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double val = 5 + am_rng_normal(&r);
            for (int k = 0; k < NSRC; k++) {
                double dx = x - src_x[k], dy = y - src_y[k];
                val += src_peak[k] * exp(-(dx * dx + dy * dy) / (2 * src_sigma[k] * src_sigma[k]));
            }
            double fx = x - 130.0, fy = y - 150.0, d1x = x - 325.0, d2x = x - 335.0, dy = y - 160.0;
            val += 2 * exp(-(fx * fx + fy * fy) / 8);
            val += 30 * exp(-(d1x * d1x + dy * dy) / 4.5) + 25 * exp(-(d2x * d2x + dy * dy) / 4.5);
            v[y * W + x] = (float)val;
        }
}

static const char *wcs_cards = "CTYPE1  = 'RA---SIN'\nCTYPE2  = 'DEC--SIN'\nCRPIX1  = 210.0\nCRPIX2  = 150.0\n"
                               "CRVAL1  = 246.7\nCRVAL2  = -24.5\nCDELT1  = -1.0E-5\nCDELT2  = 1.0E-5\n"
                               "OBJECT  = 'field'\n";

/* Writes a FITS image of naxis axes (2, or 4 with two degenerate ALMA axes) and extra cards. */
static void write_fits(const char *path, const float *v, int naxis, const char *cards)
{
    fitsfile *f;
    int st = 0;
    long naxes[4] = {W, H, 1, 1};
    char bang[700];
    snprintf(bang, sizeof bang, "!%s", path);
    fits_create_file(&f, bang, &st);
    fits_create_img(f, FLOAT_IMG, naxis, naxes, &st);
    fits_write_img(f, TFLOAT, 1, (LONGLONG)W * H, (void *)v, &st);
    for (const char *p = cards; *p;) {
        size_t n = strcspn(p, "\n");
        char card[FLEN_CARD];
        snprintf(card, sizeof card, "%.*s", (int)n, p);
        fits_write_record(f, card, &st);
        p += n + (p[n] == '\n');
    }
    fits_close_file(f, &st);
    CHECK(st == 0, "writing %s: CFITSIO status %d", path, st);
}

/* The kept sources match the planted ones one to one, each within a pixel. */
static void check_found(const am_curate_report *rep, const char *what)
{
    CHECK(rep->kept == NSRC + 1, "%s: %d cutouts for %d sources and one double source", what, rep->kept, NSRC);
    for (int k = 0; k < NSRC; k++) {
        int hits = 0;
        double best = 1e9;
        for (int i = 0; i < rep->n; i++) {
            if (!rep->src[i].kept) continue;
            double d = hypot(rep->src[i].x - src_x[k], rep->src[i].y - src_y[k]);
            hits += d < 5;
            if (d < best) best = d;
        }
        CHECK(hits == 1 && best < 1.0, "%s: source %d found once (%d), %.2f px from where it was planted", what, k,
              hits, best);
    }
    int faint = 0, dbl = 0;
    for (int i = 0; i < rep->n; i++) {
        faint += rep->src[i].kept && hypot(rep->src[i].x - 130, rep->src[i].y - 150) < 5;
        dbl += rep->src[i].kept && hypot(rep->src[i].x - 330, rep->src[i].y - 160) < 6;
    }
    CHECK(faint == 0 && dbl == 1, "%s: nothing below the threshold (%d), the double source one cutout (%d)", what,
          faint, dbl);
}

/* Every cutout's WCS gives the parent's position for the same parent pixel. */
static void check_cutout_wcs(const am_curate_report *rep, const char *parent)
{
    fitsfile *f = NULL;
    int st = 0;
    fits_open_file(&f, parent, READONLY, &st);
    am_wcs *pw = st ? NULL : am_fits_wcs(f);
    CHECK(pw != NULL, "the parent has a WCS");
    int checked = 0;
    for (int i = 0; pw && i < rep->n; i++) {
        if (!rep->src[i].kept) continue;
        fitsfile *c = NULL;
        int cs = 0;
        long x0 = 0, y0 = 0;
        fits_open_file(&c, rep->src[i].cutout, READONLY, &cs);
        fits_read_key(c, TLONG, "CUT_X0", &x0, NULL, &cs);
        fits_read_key(c, TLONG, "CUT_Y0", &y0, NULL, &cs);
        am_wcs *cw = cs ? NULL : am_fits_wcs(c);
        double ra1, dec1, ra2, dec2;
        /* cutout pixel (10, 20) is parent pixel (x0 - 1 + 10, y0 - 1 + 20), 0-based */
        int ok = cw && am_wcs_radec(cw, 10, 20, &ra1, &dec1) &&
                 am_wcs_radec(pw, (double)(x0 - 1 + 10), (double)(y0 - 1 + 20), &ra2, &dec2);
        CHECK(ok && fabs(ra1 - ra2) < 1e-10 && fabs(dec1 - dec2) < 1e-10, "cutout %s: its WCS is the parent's",
              rep->src[i].cutout);
        checked += ok;
        am_wcs_free(cw);
        if (c) fits_close_file(c, &cs);
    }
    CHECK(checked == rep->kept, "every cutout's WCS checked (%d of %d)", checked, rep->kept);
    am_wcs_free(pw);
    if (f) fits_close_file(f, &st);
}

static void test_plain_map(void)
{
    float *v = malloc(sizeof(float) * W * H);
    make_map(v, 7);
    char map[600], out[600];
    snprintf(map, sizeof map, "%s/field.fits", dir);
    write_fits(map, v, 2, wcs_cards);
    am_curate_options o;
    am_curate_options_default(&o);
    o.size = 48;
    am_curate_report rep = {0};
    snprintf(out, sizeof out, "%s/cut", dir);
    CHECK_OK(am_curate_image(map, NULL, out, &o, &rep));
    check_found(&rep, "DBSCAN");
    check_cutout_wcs(&rep, map);
    int merged = 0;
    for (int i = 0; i < rep.n; i++) merged += !rep.src[i].kept && strstr(rep.src[i].reason, "merged into") != NULL;
    CHECK(merged >= 1, "the double source's second group is reported as merged (%d)", merged);
    CHECK_OK(am_curate_report_write(&rep, out));
    char list[700];
    snprintf(list, sizeof list, "%s/files.txt", out);
    char *text = am_test_slurp(list, NULL);
    int lines = 0;
    for (char *p = text; p && *p; p++) lines += *p == '\n';
    CHECK(lines == rep.kept, "files.txt lists the %d cutouts: %d lines", rep.kept, lines);
    free(text);
    /* a cutout reads as an image with its position from the WCS */
    am_meta m;
    CHECK_OK(am_fits_read_meta(rep.src[0].cutout, NULL, &m));
    CHECK(!strcmp(m.radec_from, "wcs") && !strcmp(m.object, "field"), "the cutout keeps OBJECT and a WCS position");
    am_meta_free(&m);
    am_curate_report_free(&rep);

    o.grouping = AM_GROUP_SEP;
    snprintf(out, sizeof out, "%s/cut_sep", dir);
    CHECK_OK(am_curate_image(map, NULL, out, &o, &rep));
    check_found(&rep, "SEP");
    am_curate_report_free(&rep);
    free(v);
}

/* ALMA-like: a 4-D primary-beam-corrected map (noise rising away from the centre, NaN where the
 * beam response is below 0.2) and its .pb response: with the response, one threshold fits. */
static void test_pbcor_cube(void)
{
    float *v = malloc(sizeof(float) * W * H), *pb = malloc(sizeof(float) * W * H);
    make_map(v, 11);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dx = x - W / 2.0, dy = y - H / 2.0, r = exp(-(dx * dx + dy * dy) / (2 * 180.0 * 180.0));
            pb[y * W + x] = (float)r;
            v[y * W + x] = r < 0.2 ? NAN : (float)(v[y * W + x] / r); /* pbcor: flux restored, noise / r */
        }
    char map[600], pbp[600], out[600];
    snprintf(map, sizeof map, "%s/member.pbcor.fits", dir);
    snprintf(pbp, sizeof pbp, "%s/member.pb.fits", dir);
    write_fits(map, v, 4, wcs_cards);
    write_fits(pbp, pb, 4, wcs_cards);
    am_curate_options o;
    am_curate_options_default(&o);
    o.size = 48;
    am_curate_report rep = {0};
    snprintf(out, sizeof out, "%s/cut_alma", dir);
    CHECK_OK(am_curate_image(map, pbp, out, &o, &rep));
    check_found(&rep, "4-D pbcor with .pb");
    check_cutout_wcs(&rep, map);
    am_curate_report_free(&rep);
    free(v), free(pb);
}

/* The command: the .pb found beside the .pbcor map, the report and list written, and the cutouts
 * a data set that training accepts as it is. */
static void test_command(void)
{
    const char *cli = getenv("AM_CLI");
    CHECK(cli != NULL, "AM_CLI is not set (ctest sets it)");
    if (!cli) return;
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' curate member.pbcor.fits -o cmd_out --size 48 >out.txt 2>err.txt", dir,
             cli);
    CHECK(system(cmd) == 0, "astromorph curate");
    char p[700];
    snprintf(p, sizeof p, "%s/out.txt", dir);
    char *out = am_test_slurp(p, NULL);
    CHECK(out && strstr(out, "7 cutout(s)"), "it says what it wrote: %s", out ? out : "");
    free(out);
    snprintf(p, sizeof p, "%s/cmd_out/curation.csv", dir);
    char *csv = am_test_slurp(p, NULL);
    const char *header = "parent,id,x,y,ra,dec,npix,flux,peak_snr,kept,reason,cutout\n";
    CHECK(csv && !strncmp(csv, header, strlen(header)) && strstr(csv, "merged into"),
          "the report's header and a merged row");
    free(csv);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' training cmd_out/files.txt --check >out.txt 2>err.txt", dir, cli);
    CHECK(system(cmd) == 0, "the cutouts are a data set training takes");
    /* the same from settings: datafile lists the map (relative to the list), [curation] says the rest */
    snprintf(p, sizeof p, "%s/maps.txt", dir);
    FILE *fp = fopen(p, "w");
    fputs("member.pbcor.fits\n", fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/cur.toml", dir);
    fp = fopen(p, "w");
    fputs("datafile = \"maps.txt\"\n[curation]\noutput = \"from_settings\"\nsize = 48\n", fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' curate -c cur.toml >out.txt 2>err.txt", dir, cli);
    CHECK(system(cmd) == 0, "astromorph curate -c");
    snprintf(p, sizeof p, "%s/out.txt", dir);
    out = am_test_slurp(p, NULL);
    CHECK(out && strstr(out, "7 cutout(s)") && strstr(out, "from_settings"), "curate -c: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' curate member.pbcor.fits field.fits --pb member.pb.fits -o x 2>err.txt",
             dir, cli);
    CHECK(system(cmd) != 0, "--pb with two maps is refused");
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    test_plain_map();
    test_pbcor_cube();
    test_command();
    return am_test_finish();
}
