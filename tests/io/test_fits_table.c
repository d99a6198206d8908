/* The embeddings' FITS table and the images' sky positions: the table reads back field for field
 * and, where /usr/bin/python3 has astropy, astropy reads it as written (units, the embedding as
 * one vector column, nulls); positions come from the WCS (checked against astropy.wcs, and
 * exactly at the reference pixel), else from OBSRA/OBSDEC in degrees or sexagesimal. */
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/embeddings.h"
#include "astromorph/fits.h"
#include "test_util.h"

static char dir[512];

static int have_astropy(void) { return system("/usr/bin/python3 -c 'import astropy' >/dev/null 2>&1") == 0; }

/* A 2-D float image with the given header cards ("KEY", type, value) added. */
static void write_image(const char *path, int w, int h, const char *cards)
{
    am_tensor t;
    am_tensor_alloc2(&t, h, w);
    for (int64_t i = 0; i < am_tensor_numel(&t); i++) t.data[i] = (float)(i % 7);
    CHECK_OK(am_fits_write(path, &t, NULL));
    am_tensor_free(&t);
    fitsfile *f;
    int st = 0;
    fits_open_file(&f, path, READWRITE, &st);
    char card[FLEN_CARD];
    for (const char *p = cards; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(card, sizeof card, "%.*s", (int)n, p);
        fits_write_record(f, card, &st);
        p += n + (p[n] == '\n');
    }
    fits_close_file(f, &st);
    CHECK(st == 0, "writing %s: CFITSIO status %d", path, st);
}

static void test_positions(int astropy)
{
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s/tan.fits", dir);
    snprintf(b, sizeof b, "%s/rotated.fits", dir);
    snprintf(c, sizeof c, "%s/obs.fits", dir);
    /* the centre of a 101 x 81 image (0-based 50, 40) is FITS pixel (51, 41): CRPIX, so CRVAL */
    write_image(a, 101, 81,
                "CTYPE1  = 'RA---TAN'\nCTYPE2  = 'DEC--TAN'\nCRPIX1  = 51.0\nCRPIX2  = 41.0\n"
                "CRVAL1  = 150.25\nCRVAL2  = 2.5\nCDELT1  = -0.001\nCDELT2  = 0.001\nRADESYS = 'ICRS'");
    /* off-centre reference, a rotation, a spectral third axis in the header */
    write_image(b, 64, 48,
                "WCSAXES = 3\nCTYPE1  = 'RA---SIN'\nCTYPE2  = 'DEC--SIN'\nCTYPE3  = 'FREQ'\nCRPIX1  = 10.0\n"
                "CRPIX2  = 5.0\nCRPIX3  = 1.0\nCRVAL1  = 83.8221\nCRVAL2  = -5.3911\nCRVAL3  = 2.3E11\n"
                "CDELT1  = -2.7E-4\nCDELT2  = 2.7E-4\nCDELT3  = 1.0E6\nPC1_1   = 0.866025403784\n"
                "PC1_2   = -0.5\nPC2_1   = 0.5\nPC2_2   = 0.866025403784\nCUNIT3  = 'Hz'");
    write_image(c, 20, 20, "OBSRA   = '10:30:00'\nOBSDEC  = '-45:30:00'");
    am_meta m;
    am_meta_init(&m);
    CHECK_OK(am_fits_read_meta(a, NULL, &m));
    CHECK(!strcmp(m.radec_from, "wcs") && fabs(m.ra_deg - 150.25) < 1e-10 && fabs(m.dec_deg - 2.5) < 1e-10,
          "the reference pixel is CRVAL: %s %.12g %.12g", m.radec_from, m.ra_deg, m.dec_deg);
    CHECK(m.hdu == 1, "pixels from the primary HDU: %d", m.hdu);
    am_meta_free(&m);
    am_meta_init(&m);
    CHECK_OK(am_fits_read_meta(c, NULL, &m));
    CHECK(!strcmp(m.radec_from, "obsra") && fabs(m.ra_deg - 157.5) < 1e-12 && fabs(m.dec_deg + 45.5) < 1e-12,
          "OBSRA/OBSDEC in sexagesimal: %s %g %g", m.radec_from, m.ra_deg, m.dec_deg);
    am_meta_free(&m);
    am_meta_init(&m);
    CHECK_OK(am_fits_read_meta(b, NULL, &m));
    CHECK(!strcmp(m.radec_from, "wcs"), "a SIN projection with a frequency axis has a position");
    if (astropy) {
        /* the centre of 64 x 48 is 0-based (31.5, 23.5): astropy's pixel convention too */
        char cmd[1600];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"from astropy.io import fits; from astropy.wcs import WCS; "
                 "w = WCS(fits.getheader('%s')); "
                 "r = w.all_pix2world([[31.5, 23.5, 0]], 0)[0]; print('%%.12f %%.12f' %% (r[0], r[1]))\"",
                 b);
        FILE *p = popen(cmd, "r");
        double ra = NAN, dec = NAN;
        if (p && fscanf(p, "%lf %lf", &ra, &dec) != 2) ra = dec = NAN;
        if (p) pclose(p);
        /* wcslib underneath both: equal to rounding of the printed 12 decimals */
        CHECK(fabs(ra - m.ra_deg) < 1e-9 && fabs(dec - m.dec_deg) < 1e-9, "astropy.wcs %.12f %.12f, ours %.12f %.12f",
              ra, dec, m.ra_deg, m.dec_deg);
    }
    am_meta_free(&m);
}

static void fill(am_embeddings *e)
{
    CHECK_OK(am_embeddings_alloc(e, 3, 4));
    for (int64_t i = 0; i < 12; i++) e->data[i] = (float)(0.25 * (double)i - 1);
    const int32_t labels[3] = {2, 0, 1};
    CHECK_OK(am_embeddings_set_labels(e, labels));
    const char *names[2] = {"conc", "m20"};
    const float stats[6] = {2.5f, -1.5f, NAN, -2.0f, 3.0f, -1.0f};
    CHECK_OK(am_embeddings_set_stats(e, 2, names, stats));
    CHECK_OK(am_embeddings_set_model(e, "improved_net_e_5_20261202_0300"));
    for (int i = 0; i < 3; i++) {
        am_meta *m = &e->meta[i];
        char path[64];
        snprintf(path, sizeof path, "images/obj_%d.fits", i);
        m->filepath = strdup(path);
        snprintf(m->object, sizeof m->object, "%s", i == 1 ? "N/A" : i ? "NGC 1068" : "M 83");
        m->hdu = i + 1;
    }
    e->meta[0].ra_deg = 204.25, e->meta[0].dec_deg = -29.865, strcpy(e->meta[0].radec_from, "wcs");
    e->meta[2].ra_deg = 40.67, e->meta[2].dec_deg = -0.013, strcpy(e->meta[2].radec_from, "obsra");
    strcpy(e->meta[2].ra, "02:42:40.8");
    e->meta[0].extra = strdup("TELESCOP=ALMA;label=3;box=[1:5,2:6]");
    e->meta[2].extra = strdup("TELESCOP=VLA");
}

static void test_round_trip(int astropy)
{
    am_embeddings e, r;
    fill(&e);
    char path[600];
    snprintf(path, sizeof path, "%s/emb.fits", dir);
    const double score[3] = {0.5, 0.25, 0.125};
    const am_table_column more = {"OUTLIER_KNN", "", "a score", score};
    CHECK_OK(am_embeddings_write_fits(&e, &more, 1, path));
    char vot[600];
    snprintf(vot, sizeof vot, "%s/emb.vot", dir);
    e.meta[1].extra = strdup("TELESCOP=<&\">"); /* XML's special characters */
    CHECK_OK(am_embeddings_write_votable(&e, &more, 1, vot));
    free(e.meta[1].extra), e.meta[1].extra = NULL;
    CHECK_OK(am_embeddings_load(&r, path)); /* chosen by content */
    CHECK(r.n == 3 && r.dim == 4 && r.nstats == 2 && r.labels && r.model && !strcmp(r.model, e.model),
          "shape, labels, statistics, model");
    CHECK(r.n == 3 && !memcmp(r.data, e.data, sizeof(float) * 12), "embeddings bit for bit");
    for (int i = 0; r.n == 3 && i < 3; i++) {
        const am_meta *a = &e.meta[i], *b = &r.meta[i];
        CHECK(r.labels[i] == e.labels[i] && !strcmp(a->filepath, b->filepath) && !strcmp(a->object, b->object) &&
                  !strcmp(a->ra, b->ra) && a->hdu == b->hdu && !strcmp(a->radec_from, b->radec_from),
              "row %d: label, file, OBJECT, OBSRA, HDU, position source", i);
        CHECK(!a->radec_from[0] || (a->ra_deg == b->ra_deg && a->dec_deg == b->dec_deg), "row %d: RA/Dec", i);
        CHECK((!a->extra && !b->extra) || (a->extra && b->extra && !strcmp(a->extra, b->extra)),
              "row %d: extra keys %s / %s", i, a->extra ? a->extra : "-", b->extra ? b->extra : "-");
        for (int k = 0; k < 2; k++) {
            float x = e.stats[i * 2 + k], y = r.stats[i * 2 + k];
            CHECK((isnan(x) && isnan(y)) || x == y, "row %d statistic %d", i, k);
        }
    }
    if (astropy) {
        char script[600], cmd[1400];
        snprintf(script, sizeof script, "%s/read.py", dir);
        FILE *fp = fopen(script, "w");
        fputs("import sys\n"
              "from astropy.table import Table\n"
              "t = Table.read(sys.argv[1], hdu='EMBEDDINGS')\n"
              "assert len(t) == 3, len(t)\n"
              "assert t['EMBEDDING'].shape == (3, 4), t['EMBEDDING'].shape\n"
              "assert abs(t['EMBEDDING'][1][2] - 0.5) < 1e-7\n"
              "assert str(t['RA'].unit) == 'deg' and str(t['DEC'].unit) == 'deg'\n"
              "assert abs(t['RA'][0] - 204.25) < 1e-12 and abs(t['DEC'][2] + 0.013) < 1e-12\n"
              "assert t['RA'].mask[1] if hasattr(t['RA'], 'mask') else t['RA'][1] != t['RA'][1]\n"
              "assert list(t['CLUSTER']) == [2, 0, 1]\n"
              "s = lambda v: v.decode() if isinstance(v, bytes) else str(v)\n"
              "assert s(t['OBJECT'][0]).rstrip() == 'M 83' and s(t['OBJECT'][2]) == 'NGC 1068'\n"
              "assert s(t['TELESCOP'][0]).rstrip() == 'ALMA' and s(t['box'][0]) == '[1:5,2:6]'\n"
              "assert list(t['HDU']) == [1, 2, 3]\n"
              "assert s(t['RADEC_SRC'][0]).rstrip() == 'wcs' and s(t['RADEC_SRC'][2]).rstrip() == 'obsra'\n"
              "assert t.meta['MODEL'] == 'improved_net_e_5_20261202_0300'\n"
              "assert list(t['OUTLIER_KNN']) == [0.5, 0.25, 0.125]\n"
              "from astropy.io.votable import parse_single_table\n"
              "v = parse_single_table(sys.argv[2]).to_table()\n"
              "assert v.colnames == t.colnames, (v.colnames, t.colnames)\n"
              "assert (v['EMBEDDING'] == t['EMBEDDING']).all() and list(v['CLUSTER']) == [2, 0, 1]\n"
              "assert str(v['RA'].unit) == 'deg' and v['RA'][0] == 204.25 and v['TELESCOP'][1] == '<&\">'\n"
              "assert v['OBJECT'][2] == 'NGC 1068' and list(v['OUTLIER_KNN']) == [0.5, 0.25, 0.125]\n"
              "print('astropy ok')\n",
              fp);
        fclose(fp);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", script, path, vot);
        CHECK(system(cmd) == 0, "astropy reads the FITS table and the VOTable as written");
    }
    am_embeddings_free(&r);
    /* a file that is not ours is refused by name */
    char other[600];
    snprintf(other, sizeof other, "%s/tan.fits", dir);
    CHECK_FAILS(am_embeddings_read_fits(&r, other), AM_ERR_IO, "tan.fits: no EMBEDDINGS table");
    am_embeddings_free(&e);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    int astropy = have_astropy();
    test_positions(astropy);
    test_round_trip(astropy);
    if (!astropy) return am_test_skip("/usr/bin/python3 has no astropy: the astropy checks did not run");
    return am_test_finish();
}
