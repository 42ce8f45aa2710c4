#!/usr/bin/env python3
"""PyTorch peers on the suite's models. Usage:
  torch_vit.py infer THREADS BATCH        torchvision vit_b_16 at 224, inference mode, img/s
  torch_vit.py train THREADS DIM HEADS MLP the TrainStepBenchmark model (28x28x1, patch 4, depth 6, batch 128,
                                           class token, learned positions, pre-LN, AdamW): train and eval img/s"""
import json, sys, time
import torch, torch.nn as nn
mode, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)

def best_of(fn, n, reps=3):
    for _ in range(2): fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n): fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best

if mode == "infer":
    import torchvision.models as tvm
    batch = int(sys.argv[3])
    m = tvm.vit_b_16().eval(); x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        s = best_of(lambda: m(x), 3 if batch == 1 else 1)
    print(json.dumps({"peer": "pytorch-" + torch.__version__, "benchmark": "InferenceBenchmark", "model": "b/16", "batch": batch,
                      "threads": threads, "value": round(batch / s, 2), "unit": "img/s"}))
else:
    dim, heads, mlp = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(1, dim, 4, 4); self.cls = nn.Parameter(torch.zeros(1, 1, dim)); self.pos = nn.Parameter(torch.zeros(1, 50, dim))
            layer = nn.TransformerEncoderLayer(dim, heads, mlp, dropout=0.0, activation="gelu", batch_first=True, norm_first=True, layer_norm_eps=1e-6)
            self.enc = nn.TransformerEncoder(layer, 6); self.norm = nn.LayerNorm(dim, eps=1e-6); self.head = nn.Linear(dim, 10)
        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
            return self.head(self.norm(self.enc(x))[:, 0])
    m = ViT(); opt = torch.optim.AdamW(m.parameters(), 1e-4, weight_decay=0.05)
    x = torch.randn(128, 1, 28, 28); y = torch.randint(0, 10, (128,))
    def step():
        opt.zero_grad(); nn.functional.cross_entropy(m(x), y).backward(); opt.step()
    tr = best_of(step, 3)
    m.eval()
    with torch.inference_mode():
        ev = best_of(lambda: m(x), 5)
    for what, s in (("train", tr), ("eval", ev)):
        print(json.dumps({"peer": "pytorch-" + torch.__version__, "benchmark": "TrainStepBenchmark", "method": what, "dim": dim,
                          "threads": threads, "value": round(128 / s, 1), "unit": "img/s"}))
