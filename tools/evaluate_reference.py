#!/usr/bin/python3
"""Independent reference numbers for tests/analysis/test_evaluate.c, in numpy only.

Planted data: three Gaussian classes in 8 dimensions whose means overlap enough that k-NN makes
mistakes, with one strongly stretched axis so that centring and whitening change the answers.
Writes tests/fixtures/evaluate/planted.csv (label, x0..x7) and expected.csv: the leave-one-out
k-NN accuracies (by the rules of include/astromorph/evaluate.h) and the probe's weights, found
here by Newton's method on the same convex objective.

    /usr/bin/python3 tools/evaluate_reference.py
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "evaluate")
SHRINK = 0.1  # WHITEN_SHRINK in src/analysis/evaluate_knn.c
L2 = 1e-2


def planted():
    rng = np.random.default_rng(20261201)
    n_per, d = 30, 8
    means = rng.normal(0, 1.0, (3, d))
    xs, ys = [], []
    for c in range(3):
        xs.append(means[c] + rng.normal(0, 1.1, (n_per, d)))
        ys += [c] * n_per
    x = np.concatenate(xs)
    x[:, 0] = x[:, 0] * 6 + 3  # a stretched, offset axis: raw, centred and whitened differ
    x = x.astype(np.float32)
    return x, np.array(ys)


def prepare(x, variant):
    x = x.astype(np.float64)
    if variant == "raw":
        return x
    xc = x - x.mean(0)
    if variant == "centred":
        return xc
    n, d = x.shape
    cov = xc.T @ xc / (n - 1)
    lam, vec = np.linalg.eigh(cov)
    keep = min(d, n - 1)
    lam, vec = lam[::-1][:keep], vec[:, ::-1][:, :keep]
    mean_var = np.trace(cov) / d
    return (xc @ vec) / np.sqrt(np.maximum(lam, 0) + SHRINK * mean_var)


def knn(x, y, k, dist):
    n = len(y)
    if dist == "cosine":
        nrm = np.linalg.norm(x, axis=1, keepdims=True)
        xn = x / np.where(nrm > 0, nrm, 1)
        score = xn @ xn.T
    else:
        sq = (x ** 2).sum(1)
        score = -(sq[:, None] + sq[None, :] - 2 * x @ x.T)
    right = 0
    for i in range(n):
        s = score[i].copy()
        s[i] = -np.inf
        order = sorted(range(n), key=lambda j: (-s[j], j))[:k]  # equal scores: lower index first
        votes = np.bincount(y[order], minlength=3)
        top = votes.max()
        pred = next(y[j] for j in order if votes[y[j]] == top)  # tie: the nearest tied class
        right += pred == y[i]
    return right / n


def probe_newton(x, y, K):
    n, d = x.shape
    X = np.hstack([x.astype(np.float64), np.ones((n, 1))])
    D = d + 1
    Y = np.eye(K)[y]
    reg = np.full(D, L2)
    reg[-1] = 0  # the bias is not penalised
    W = np.zeros((D, K))
    for _ in range(50):
        Z = X @ W
        Z -= Z.max(1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(1, keepdims=True)
        G = X.T @ (P - Y) / n + reg[:, None] * W
        H = np.zeros((D * K, D * K))
        for a in range(K):
            for b in range(K):
                wgt = P[:, a] * ((a == b) - P[:, b])
                H[a::K, b::K] = (X * wgt[:, None]).T @ X / n
        H += np.diag(np.repeat(reg, K))
        # the softmax is invariant to a shift shared by all classes' biases: least squares picks
        # the minimum-norm step, which the gradient method (starting from zero) also keeps
        step = np.linalg.lstsq(H, G.reshape(-1), rcond=None)[0]
        W -= step.reshape(D, K)
    return W


def main():
    x, y = planted()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "planted.csv"), "w") as f:
        f.write("label," + ",".join(f"x{j}" for j in range(x.shape[1])) + "\n")
        for i in range(len(y)):
            f.write(f"{y[i]}," + ",".join(repr(float(v)) for v in x[i]) + "\n")
    with open(os.path.join(OUT, "expected.csv"), "w") as f:
        f.write("what,variant,distance,k,value\n")
        for variant in ("raw", "centred", "whitened"):
            xv = prepare(x, variant).astype(np.float32).astype(np.float64)
            for dist in ("cosine", "euclidean"):
                for k in (1, 5, 20):
                    f.write(f"knn,{variant},{dist},{k},{knn(xv, y, k, dist)!r}\n")
        W = probe_newton(x, y, 3)
        for j in range(W.shape[0]):
            for c in range(W.shape[1]):
                f.write(f"probe_w,{j},{c},,{W[j, c]!r}\n")


if __name__ == "__main__":
    main()
