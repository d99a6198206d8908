#!/usr/bin/python3
"""Reference morphology for tests/analysis/test_morphology.c.

Generates test images with known answers (Sersic profiles of index 1 and 4, a point source, a
flat elliptical disk at a known angle, a 180-degree symmetric pair, a lopsided source, and noisy
versions, two three-component radio sources, one straight and one bent), writes them as FITS, and
measures them twice, independently of the C code:
  - Gini, ellipticity and orientation with photutils (Debian python3-photutils): its gini() and
    data_properties() on the same segmented, background-subtracted pixels;
  - everything else with the definitions of include/astromorph/morphology.h written out in numpy.
The background and noise sigma are given (the C test passes the same ones), so the comparison
does not depend on the noise fit.

    /usr/bin/python3 tools/morphology_reference.py
"""
import os
import numpy as np
from astropy.io import fits
from photutils.morphology import data_properties, gini
from scipy import ndimage

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "morphology")
EDGES = [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4]
H = W = 96


def grid():
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    return x, y


def sersic(n, re, q=1.0, pa=0.0, amp=1.0, cx=47.3, cy=48.1):
    # b_n from Ciotti & Bertin's expansion
    b = 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n * n)
    x, y = grid()
    t = np.radians(pa)
    dx, dy = x - cx, y - cy
    u = dx * np.cos(t) + dy * np.sin(t)
    v = -dx * np.sin(t) + dy * np.cos(t)
    r = np.sqrt(u * u + (v / q) ** 2)
    return amp * np.exp(-b * ((r / re) ** (1 / n) - 1))


def images():
    rng = np.random.default_rng(7)
    x, y = grid()
    out = {}
    out["exp_disk"] = (sersic(1, 8.0), 0.0, 0.0)
    out["devauc"] = (sersic(4, 6.0), 0.0, 0.0)
    pt = np.zeros((H, W))
    pt[48, 47] = 100.0
    pt[48, 48] = 1.0
    pt[47, 47] = 1.0
    pt[49, 47] = 1.0
    pt[48, 46] = 1.0
    pt[47, 48] = 1.0
    out["point"] = (pt, 0.0, 0.0)
    dx, dy = x - 48, y - 47
    t = np.radians(30.0)
    u = dx * np.cos(t) + dy * np.sin(t)
    v = -dx * np.sin(t) + dy * np.cos(t)
    out["flat_ellipse"] = (((u / 30) ** 2 + (v / 12) ** 2 <= 1).astype(float), 0.0, 0.0)
    sym = sersic(1, 5.0, cx=38, cy=40) + sersic(1, 5.0, cx=58, cy=56)  # symmetric about (48, 48)
    out["symmetric_pair"] = (sym, 0.0, 0.0)
    lop = sersic(1, 7.0) + 0.6 * sersic(1, 3.0, cx=62, cy=52)
    out["lopsided"] = (lop, 0.0, 0.0)
    sigma = 0.01
    out["noisy_exp"] = (sersic(1, 8.0, q=0.6, pa=-40) + 5.0 + rng.normal(0, sigma, (H, W)), 5.0, sigma)
    out["noisy_devauc"] = (sersic(4, 5.0, q=0.8, pa=70) + rng.normal(0, sigma, (H, W)), 0.0, sigma)

    # a faint core between two bright lobes: edge-brightened (FR II-like), straight, then bent by
    # 60 degrees (the lobes 120 degrees apart as seen from the core)
    def blob(cx, cy, s, amp):
        return amp * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))

    out["two_lobes"] = (blob(20.2, 47.6, 3.0, 1.0) + blob(76.1, 48.3, 3.0, 0.9) + blob(48.0, 48.0, 2.0, 0.3), 0.0, 0.01)
    a = np.radians(120.0)
    out["bent_lobes"] = (blob(48 + 26 * np.cos(-a / 2), 48 + 26 * np.sin(-a / 2), 3.0, 1.0) +
                         blob(48 + 26 * np.cos(a / 2), 48 + 26 * np.sin(a / 2), 3.0, 0.9) + blob(48.0, 48.0, 2.0, 0.3),
                         0.0, 0.01)
    return out


def structure(I, lab, nl, best, min_pixels=5):
    """The components' statistics of include/astromorph/morphology.h."""
    idx = np.arange(1, nl + 1)
    f = ndimage.sum_labels(I, lab, idx)
    area = ndimage.sum_labels(np.ones_like(I), lab, idx)
    Y, X = np.mgrid[0:H, 0:W].astype(np.float64)
    cxs = ndimage.sum_labels(I * X, lab, idx) / f
    cys = ndimage.sum_labels(I * Y, lab, idx) / f
    reach = 0.35 * min(H, W)
    fb = f[best - 1]
    keep = [k for k in idx if k == best or (area[k - 1] >= min_pixels and f[k - 1] >= 0.02 * fb and
                                            np.hypot(cxs[k - 1] - (W - 1) / 2, cys[k - 1] - (H - 1) / 2) <= reach)]
    U = np.isin(lab, keep)
    yy, xx = np.nonzero(U)  # raster order, as the C code walks the image
    v = I[U]
    Ft = v.sum()
    cx, cy = (v * xx).sum() / Ft, (v * yy).sum() / Ft
    ang = np.pi * np.arange(32) / 32
    t = np.outer(xx, np.cos(ang)) + np.outer(yy, np.sin(ang))
    las = (t.max(0) - t.min(0)).max()
    dx, dy = xx - cx, yy - cy
    phi = np.arctan2(dy, dx)
    ok = np.hypot(dx, dy) > 0
    four = [abs((v[ok] * np.exp(1j * m * phi[ok])).sum()) / Ft for m in (1, 2, 3)]
    # 3x3 means over the pixels inside the image
    s3 = ndimage.correlate(I, np.ones((3, 3)), mode="constant", cval=0.0)
    n3 = ndimage.correlate(np.ones_like(I), np.ones((3, 3)), mode="constant", cval=0.0)
    m3 = (s3 / n3)[U]
    i1 = int(np.argmax(m3))
    hx, hy = xx - (W - 1) / 2, yy - (H - 1) / 2  # about the host, the image centre
    ux, uy = hx[i1], hy[i1]
    other = hx * ux + hy * uy < 0
    r1 = np.hypot(ux, uy)
    po = min(1.0, 2 * r1 / las)
    if other.any():
        cand = np.nonzero(other)[0]
        i2 = cand[int(np.argmax(m3[cand]))]
        fr = min(1.0, np.hypot(xx[i2] - xx[i1], yy[i2] - yy[i1]) / las)
        r2 = np.hypot(hx[i2], hy[i2])
        bend = 1 + (ux * hx[i2] + uy * hy[i2]) / (r1 * r2) if fr > 0.2 and r1 > 0 and r2 > 0 else 0.0
    else:
        fr, bend = 0.0, 0.0
    return dict(components=float(len(keep)), main_fraction=fb / Ft, las=las, fr_ratio=fr, peak_offset=po, bend=bend,
                fourier_1=four[0], fourier_2=four[1], fourier_3=four[2])


def measure(img, bkg, sigma):
    I = img - bkg
    thr = 3 * sigma if sigma > 0 else 1e-4 * I.max()
    mask = (I > thr) & (I > 0)
    lab, nl = ndimage.label(mask, structure=np.ones((3, 3)))
    best, top = 0, -1
    for k in range(1, nl + 1):
        sel = lab == k
        f = I[sel].sum()
        yy, xx = np.nonzero(sel)
        cx, cy = (I[sel] * xx).sum() / f, (I[sel] * yy).sum() / f
        d2 = (cx - (W - 1) / 2) ** 2 + (cy - (H - 1) / 2) ** 2
        sc = 0.25 * min(H, W)
        score = f / (1 + d2 / sc ** 2)
        if score > top:
            best, top = k, score
    seg = lab == best
    yy, xx = np.nonzero(seg)
    v = I[seg].astype(np.float64)
    F = v.sum()
    xc, yc = (v * xx).sum() / F, (v * yy).sum() / F
    r = np.hypot(xx - xc, yy - yc)
    # photutils: Gini, ellipticity, orientation on the same pixels
    masked = np.where(seg, I, 0.0)
    g = gini(v)  # photutils sorts the absolute values of what it is given: the source pixels
    props = data_properties(masked, mask=~seg)
    ell = float(props.ellipticity.value)
    ori = float(props.orientation.value)
    # M20
    mtot = (v * r * r).sum()
    order = np.argsort(-v, kind="stable")
    cum, m20 = 0.0, 0.0
    for i in order:
        if cum >= 0.2 * F:
            break
        cum += v[i]
        m20 += v[i] * r[i] ** 2
    # radii: curve of growth over pixels sorted by radius
    o = np.argsort(r, kind="stable")
    rs, cs = r[o], np.cumsum(v[o])

    def rad(frac):
        want = frac * F
        i = int(np.searchsorted(cs, want))
        pr, pc = (rs[i - 1], cs[i - 1]) if i > 0 else (0.0, 0.0)
        return pr + (rs[i] - pr) * (want - pc) / (cs[i] - pc)

    r20, r50, r80 = rad(0.2), rad(0.5), rad(0.8)
    # asymmetry: bilinear value at the point reflected through the centroid; outside the image
    # the missing neighbours are 0 and still interpolated (grid-constant), as the C code does
    rot = ndimage.map_coordinates(I, [2 * yc - yy, 2 * xc - xx], order=1, mode="grid-constant", cval=0.0)
    A = (np.abs(v - rot).sum() - len(v) * 2 * sigma / np.sqrt(np.pi)) / np.abs(v).sum()
    # smoothness: boxcar of width floor(r50/2), at least 3, odd; zero outside the image
    k = max(3, int(np.floor(0.5 * r50)) | 1)
    box = ndimage.uniform_filter(I, size=k, mode="grid-constant", cval=0.0)
    S = np.clip(v - box[seg], 0, None).sum() / v.sum()
    # profile
    Y, X = np.mgrid[0:H, 0:W]
    rr = np.hypot(X - xc, Y - yc) / r50
    inner = 0.5 * F / (np.pi * r50 * r50)
    prof = []
    for b in range(8):
        sel = (rr >= EDGES[b]) & (rr < EDGES[b + 1])
        prof.append(I[sel].mean() / inner if sel.any() else np.nan)
    return dict(concentration=5 * np.log10(r80 / r20), asymmetry=A, smoothness=S, gini=g, m20=np.log10(m20 / mtot),
                ellipticity=ell, orientation=ori, r20=r20, r50=r50, r80=r80, area=float(len(v)), flux=F, xc=xc,
                yc=yc, **{f"profile_{b}": prof[b] for b in range(8)}, **structure(I, lab, nl, best),
                sn_per_pixel=(F / len(v) / sigma) if sigma > 0 else np.nan)


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = []
    for name, (img, bkg, sigma) in images().items():
        fits.PrimaryHDU(img.astype(np.float32)).writeto(os.path.join(OUT, name + ".fits"), overwrite=True)
        m = measure(img.astype(np.float32).astype(np.float64), bkg, sigma)
        rows.append((name, bkg, sigma, m))
    keys = list(rows[0][3].keys())
    with open(os.path.join(OUT, "expected.csv"), "w") as f:
        f.write("image,background,sigma," + ",".join(keys) + "\n")
        for name, bkg, sigma, m in rows:
            f.write(f"{name},{bkg!r},{sigma!r}," + ",".join(repr(float(m[k])) for k in keys) + "\n")


if __name__ == "__main__":
    main()
