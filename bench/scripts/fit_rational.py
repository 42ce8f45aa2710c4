#!/usr/bin/env python3
"""Rational fits behind the forward GELUs in engine/.../simd/SimdMath.java (numpy only).

erf(z)/z, tanh(u)/u and H(t) = (GELU'(x) - 1/2) / x with t = x^2 are even, so each is fitted as P(t)/Q(t) in t = z^2 (resp. u^2), Q(0) = 1, minimising the
largest relative error: linearised least squares (Sanathanan-Koerner: divide by the previous Q), with Lawson's
reweighting towards the worst points. Then a float32 emulation of the kernels (clamps included) against the double
GELUs, in units of the tests' tolerance 1e-6 + 1e-5 |ref| (must stay below 1).

    /usr/bin/python3 bench/scripts/fit_rational.py
"""
import math
import numpy as np


def fit(f, hi, np_, nq, iters=30):
    n = 4000
    t = hi / 2 + hi / 2 * np.cos(np.linspace(0, math.pi, n))
    y = f(t)
    w, qprev, best = np.ones(n), np.ones(n), None
    for _ in range(iters):
        a = np.hstack([np.vstack([t ** k for k in range(np_ + 1)]).T,
                       -(y[:, None]) * np.vstack([t ** k for k in range(1, nq + 1)]).T])
        s = np.sqrt(w) / np.abs(qprev) / np.abs(y)
        c, *_ = np.linalg.lstsq(a * s[:, None], y * s, rcond=None)
        p, q = c[:np_ + 1], np.concatenate([[1.0], c[np_ + 1:]])
        big_q = np.polyval(q[::-1], t)
        err = (np.polyval(p[::-1], t) / big_q - y) / np.abs(y)
        e = np.max(np.abs(err))
        if best is None or e < best[0]:
            best = (e, p, q)
        qprev = big_q
        w = w * np.abs(err) ** 0.5 + 1e-300
        w /= w.sum()
    return best


def horner32(c, t):
    r = np.float32(c[-1])
    for k in c[-2::-1]:
        r = np.float32(r * t + np.float32(k))
    return r


def emulate(x, pre, p, q, tmax):
    f32 = np.float32
    arg = pre(x)
    t = f32(arg * arg)
    t = np.where(t > f32(tmax), f32(tmax), t).astype(f32)
    r = f32(arg * f32(horner32(p, t) / horner32(q, t)))
    r = np.clip(r, f32(-1), f32(1)).astype(f32)
    h = f32(x * f32(0.5))
    return f32(h * r + h)


def main():
    erf = np.vectorize(math.erf)
    e, pe, qe = fit(lambda t: np.where(t == 0, 2 / math.sqrt(math.pi), erf(np.sqrt(t)) / np.sqrt(np.maximum(t, 1e-300))), 3.9 ** 2, 5, 5)
    print("erf(z)/z on |z| <= 3.9, 5/5: max relative error %.3g" % e)
    print("  P", ["%.9g" % v for v in pe]); print("  Q", ["%.9g" % v for v in qe])
    def h(t):
        x = np.sqrt(np.maximum(t, 1e-300))
        return np.where(t == 0, 2 / math.sqrt(2 * math.pi), 0.5 * erf(x / math.sqrt(2)) / x + np.exp(-t / 2) / math.sqrt(2 * math.pi))
    e, ph, qh = fit(h, 5.7 ** 2, 5, 5)
    print("(GELU'(x) - 1/2) / x on |x| <= 5.7, 5/5: max relative error %.3g" % e)
    print("  P", ["%.9g" % v for v in ph]); print("  Q", ["%.9g" % v for v in qh])
    e, pt, qt = fit(lambda t: np.where(t == 0, 1.0, np.tanh(np.sqrt(t)) / np.sqrt(np.maximum(t, 1e-300))), 81.0, 4, 4)
    print("tanh(u)/u on |u| <= 9, 4/4: max relative error %.3g" % e)
    print("  P", ["%.9g" % v for v in pt]); print("  Q", ["%.9g" % v for v in qt])

    x = np.concatenate([np.linspace(-20, 20, 4000001), np.logspace(-30, 3, 2000), -np.logspace(-30, 3, 2000)]).astype(np.float32)
    xd = x.astype(np.float64)
    pe, qe, pt, qt = [np.float32(v) for v in pe], [np.float32(v) for v in qe], [np.float32(v) for v in pt], [np.float32(v) for v in qt]
    y = emulate(x, lambda v: np.float32(v * np.float32(0.70710678)), pe, qe, 3.9 ** 2)
    ref = 0.5 * xd * (1 + erf(xd / math.sqrt(2)))
    print("GELU, float32 emulation: worst |d| / tol = %.2f" % np.max(np.abs(y - ref) / (1e-6 + 1e-5 * np.abs(ref))))
    ph, qh = [np.float32(v) for v in ph], [np.float32(v) for v in qh]
    t = np.minimum(np.float32(x * x), np.float32(5.7 ** 2)).astype(np.float32)
    g = np.float32(np.float32(x * horner32(ph, t)) / horner32(qh, t)) + np.float32(0.5)
    g = np.where(x > np.float32(5.7), np.float32(1), np.where(x < np.float32(-5.7), np.float32(0), g))
    ref = 0.5 * (1 + erf(xd / math.sqrt(2))) + xd * np.exp(-xd * xd / 2) / math.sqrt(2 * math.pi)
    print("GELU', float32 emulation: worst |d| / tol = %.2f" % np.max(np.abs(g - ref) / (1e-6 + 1e-5 * np.abs(ref))))
    s = np.float32(0.7978845608)
    y = emulate(x, lambda v: np.float32(np.float32(np.float32(v * v) * np.float32(0.044715 * 0.7978845608) + s) * v), pt, qt, 81.0)
    ref = 0.5 * xd * (1 + np.tanh(0.7978845608 * (xd + 0.044715 * xd ** 3)))
    print("GELU (tanh), float32 emulation: worst |d| / tol = %.2f" % np.max(np.abs(y - ref) / (1e-6 + 1e-5 * np.abs(ref))))


if __name__ == "__main__":
    main()
