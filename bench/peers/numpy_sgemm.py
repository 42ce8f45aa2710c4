#!/usr/bin/env python3
"""OpenBLAS SGEMM through numpy, the GEMM peer: one JSON line per shape and thread count, best of 5.
Usage: numpy_sgemm.py THREADS SHAPE[,SHAPE...]   (run once per thread count: OpenBLAS reads its thread count at import)"""
import os, sys
threads, shapes = sys.argv[1], sys.argv[2].split(",")
os.environ["OPENBLAS_NUM_THREADS"] = threads
os.environ["OMP_NUM_THREADS"] = threads
import json, time, numpy as np
for s in shapes:
    m, n, k = (int(x) for x in s.split("x"))
    a = np.random.rand(m, k).astype(np.float32); b = np.random.rand(k, n).astype(np.float32)
    for _ in range(3): a @ b
    reps = max(3, int(2e9 / (2 * m * n * k)))
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps): a @ b
        best = min(best, (time.perf_counter() - t) / reps)
    print(json.dumps({"peer": "openblas-numpy-" + np.__version__, "benchmark": "GemmBenchmark", "shape": s, "threads": int(threads),
                      "value": round(2 * m * n * k / best / 1e9, 2), "unit": "GFLOPS"}))
