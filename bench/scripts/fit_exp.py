#!/usr/bin/env python3
"""The polynomial behind e^x in engine/.../simd/SimdMath.java (expShift), numpy only.

After the range reduction x = k ln2 + r, |r| <= ln2 / 2, the kernel computes e^r = 1 + r + r^2 G(r), G a polynomial of
degree 4 (five coefficients), and scales by 2^k. G is fitted to (e^r - 1 - r) / r^2 minimising the largest relative
error of e^r: weighted least squares on Chebyshev nodes with Lawson's reweighting towards the worst points. Cephes'
expf uses degree 5 here with near-Taylor coefficients; a minimax fit one degree lower already sits far below float's
rounding (3.1e-9 in double), which saves a fused multiply-add per vector. Then a float32 emulation of the kernel's
Horner scheme against e^r in double: the total stays at float's rounding (~7e-8).

    /usr/bin/python3 bench/scripts/fit_exp.py
"""
import numpy as np

DEGREE = 4
a = np.log(2) / 2 * 1.0005          # a little past ln2 / 2: k ln2 is rounded in float
r = np.cos(np.linspace(0, np.pi, 4001)) * a
f = np.exp(r)
g = np.where(np.abs(r) < 1e-6, 0.5, (f - 1 - r) / np.where(r == 0, 1, r) ** 2)
v = np.vander(r, DEGREE + 1, increasing=True)
w = r ** 2 / f                       # an error in G is an error r^2 dG in e^r, relative to e^r
lawson = np.ones_like(r)
for _ in range(50):
    c, *_ = np.linalg.lstsq(v * (w * lawson)[:, None], g * w * lawson, rcond=None)
    err = (1 + r + r ** 2 * (v @ c) - f) / f
    lawson = lawson * (np.abs(err) / np.abs(err).max()) ** 0.3 + 1e-3
print("relative error in double:", np.abs(err).max())
print("coefficients of r^0..r^%d:" % DEGREE, ", ".join(repr(float(x)) for x in c))

c32, r32 = c.astype(np.float32), r.astype(np.float32)
p = np.zeros_like(r32)
for x in c32[::-1]:
    p = (p * r32 + x).astype(np.float32)
e = ((p * (r32 * r32).astype(np.float32)).astype(np.float32) + r32).astype(np.float32) + np.float32(1)
print("relative error of the float32 evaluation:", np.abs((e.astype(np.float64) - f) / f).max())
