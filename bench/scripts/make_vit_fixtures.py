#!/usr/bin/env python3
"""Reference checkpoints, inputs and logits for Tessera's importers, from torchvision's ViT.

Needs Debian's python3-torch, python3-torchvision, python3-pil (python3-onnx for --onnx).

  make_vit_fixtures.py small OUT_DIR [--onnx]
      The committed test fixtures: a random-init torchvision VisionTransformer with odd sizes (image 30, patch 6,
      dim 36, 3 heads, MLP 70, 2 layers, 7 classes; biases and LayerNorms randomised too), saved in the three
      namings (torchvision, timm, Hugging Face + config.json) and once in BF16, with an input batch and the logits.
      Also PIL resize/convert fixtures for the preprocessing tests.
  make_vit_fixtures.py trajectory OUT_DIR
      A training trajectory for the llm.c-style whole-model test: a random-init torchvision ViT with odd sizes (image
      12, patch 4, dim 24, 3 heads, MLP 40, 2 layers, 5 classes; biases, LayerNorms and head randomised), one batch
      of 6 images with labels, and PyTorch's loss and gradient norm at each of 8 steps of AdamW (lr 3e-3, betas 0.9
      / 0.999, eps 1e-8, weight decay 0.05 on matrices only, as Tessera decays), label smoothing 0.1 and clipping at
      global norm 1; then the logits after the last step. Written to OUT_DIR/trajectory_torchvision.safetensors
      (the initial weights) and OUT_DIR/trajectory_io.safetensors.
  make_vit_fixtures.py b16 OUT_DIR [--onnx]
      ViT-B/16 at 224 (random weights, seed 0: the ONNX Runtime peer's model, but with a random instead of a zero
      head so that logits say something): weights, input, logits and, with --onnx, OUT_DIR/vit_b_16.onnx, for the
      agreement check and the benchmarks. Not committed (346 MB).

Tensors are written in the safetensors layout by hand (8-byte header length, JSON header, little-endian data), so
the script needs no safetensors package.
"""
import json, os, struct, sys
import numpy as np
import torch
import torchvision.models as tvm
from torchvision.models.vision_transformer import VisionTransformer

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().astype(
            "<i2" if t.dtype == torch.bfloat16 else t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def to_timm(sd):
    out = {}
    for k, v in sd.items():
        k2 = (k.replace("conv_proj", "patch_embed.proj").replace("class_token", "cls_token")
              .replace("encoder.pos_embedding", "pos_embed").replace("encoder.layers.encoder_layer_", "blocks.")
              .replace("ln_1", "norm1").replace("ln_2", "norm2")
              .replace("self_attention.in_proj_weight", "attn.qkv.weight").replace("self_attention.in_proj_bias", "attn.qkv.bias")
              .replace("self_attention.out_proj", "attn.proj").replace("mlp.0", "mlp.fc1").replace("mlp.3", "mlp.fc2")
              .replace("encoder.ln", "norm").replace("heads.head", "head"))
        out[k2] = v
    return out


def to_hf(sd, dim):
    out = {}
    for k, v in sd.items():
        if "in_proj" in k:
            i = k.split("encoder_layer_")[1].split(".")[0]
            base = f"vit.encoder.layer.{i}.attention.attention."
            kind = "weight" if k.endswith("weight") else "bias"
            for j, part in enumerate(("query", "key", "value")):
                out[base + part + "." + kind] = v[j * dim:(j + 1) * dim].clone()
            continue
        k2 = k.replace("conv_proj", "vit.embeddings.patch_embeddings.projection").replace("class_token", "vit.embeddings.cls_token")
        k2 = k2.replace("encoder.pos_embedding", "vit.embeddings.position_embeddings")
        if "encoder_layer_" in k2:
            i = k2.split("encoder_layer_")[1].split(".")[0]
            rest = k2.split(f"encoder_layer_{i}.")[1]
            rest = (rest.replace("ln_1", "layernorm_before").replace("ln_2", "layernorm_after")
                    .replace("self_attention.out_proj", "attention.output.dense")
                    .replace("mlp.0", "intermediate.dense").replace("mlp.3", "output.dense"))
            k2 = f"vit.encoder.layer.{i}.{rest}"
        k2 = k2.replace("encoder.ln", "vit.layernorm").replace("heads.head", "classifier")
        out[k2] = v
    return out


def small(out, onnx=False):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = VisionTransformer(image_size=30, patch_size=6, num_layers=2, num_heads=3, hidden_dim=36, mlp_dim=70, num_classes=7).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():  # torchvision zero-inits biases and the head: randomise everything
            if name.endswith("bias") or "ln" in name or "head" in name:
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if ("ln" in name and name.endswith("weight")) else 0.0))
    x = torch.randn(2, 3, 30, 30)
    with torch.no_grad():
        logits = m(x)
    sd = {k: v for k, v in m.state_dict().items()}
    save_safetensors(f"{out}/tiny_torchvision.safetensors", sd)
    if onnx:  # the same model for ONNX Runtime (bench/peers/OrtPeer.java ort tiny.onnx tiny_io.safetensors 1 1); not committed
        torch.onnx.export(m, x[:1], f"{out}/tiny.onnx", input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, opset_version=14)
    save_safetensors(f"{out}/tiny_timm.safetensors", to_timm(sd))
    save_safetensors(f"{out}/tiny_hf.safetensors", to_hf(sd, 36))
    with open(f"{out}/tiny_hf.config.json", "w") as f:
        json.dump({"architectures": ["ViTForImageClassification"], "hidden_size": 36, "num_attention_heads": 3,
                   "num_hidden_layers": 2, "intermediate_size": 70, "image_size": 30, "patch_size": 6,
                   "num_channels": 3, "layer_norm_eps": 1e-6, "hidden_act": "gelu",
                   "id2label": {str(i): f"class{i}" for i in range(7)}}, f, indent=1)
    # Hugging Face ViTModel: no classifier, keys without the "vit." prefix, and a pooler (dense + tanh on the class
    # token's final state). Tessera runs it as an MLP-tanh head with an identity classifier: its "logits" are the
    # pooled features.
    torch.manual_seed(1)
    pooler = torch.nn.Linear(36, 36)
    with torch.no_grad():
        xx = m._process_input(x)
        xx = torch.cat([m.class_token.expand(xx.shape[0], -1, -1), xx], dim=1)
        pooled = torch.tanh(pooler(m.encoder(xx)[:, 0]))
    vm = {k[len("vit."):]: v for k, v in to_hf(sd, 36).items() if k.startswith("vit.")}
    vm["pooler.dense.weight"] = pooler.weight.detach().clone()
    vm["pooler.dense.bias"] = pooler.bias.detach().clone()
    save_safetensors(f"{out}/tiny_hf_vitmodel.safetensors", vm)
    with open(f"{out}/tiny_hf_vitmodel.config.json", "w") as f:
        json.dump({"architectures": ["ViTModel"], "hidden_size": 36, "num_attention_heads": 3, "num_hidden_layers": 2,
                   "intermediate_size": 70, "image_size": 30, "patch_size": 6, "num_channels": 3, "layer_norm_eps": 1e-6}, f, indent=1)
    # BF16: the same weights rounded; the reference runs the rounded weights in FP32.
    bf = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    save_safetensors(f"{out}/tiny_torchvision_bf16.safetensors", bf)
    m.load_state_dict({k: v.float() for k, v in bf.items()})
    with torch.no_grad():
        logits_bf = m(x)
    save_safetensors(f"{out}/tiny_io.safetensors", {"input": x, "logits": logits, "logits_bf16": logits_bf, "pooled": pooled})
    pil_fixtures(out)


def pil_fixtures(out):
    """Images in several modes and their PIL resizes: what Tessera's preprocessing must reproduce."""
    from PIL import Image
    rng = np.random.default_rng(0)
    d = f"{out}/images"
    os.makedirs(d, exist_ok=True)
    # Smooth content plus noise: resampling errors show on both edges and gradients.
    yy, xx = np.mgrid[0:41, 0:57]
    base = np.stack([(xx * 4) % 256, (yy * 6) % 256, ((xx + yy) * 3) % 256], -1).astype(np.float64)
    rgb = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(f"{d}/rgb.png")
    Image.fromarray(rgb[:, :, 0], "L").save(f"{d}/grey.png")
    rgba = np.concatenate([rgb, rng.integers(0, 256, (41, 57, 1), dtype=np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(f"{d}/rgba.png")
    Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE, colors=64).save(f"{d}/palette.gif")
    Image.fromarray(rgb, "RGB").save(f"{d}/photo.jpg", quality=95)
    Image.fromarray(rgb, "RGB").save(f"{d}/rgb.bmp")
    # 16-bit grey: Pillow opens it as mode I and convert('RGB') clips at 255 instead of scaling (Pillow 9.4).
    Image.fromarray((yy * 1000 + xx * 7).astype(np.uint16)).save(f"{d}/grey16.png")
    Image.open(f"{d}/grey16.png").convert("RGB").save(f"{d}/grey16.png.rgb.png")
    cases = []
    for src in ["rgb.png", "grey.png", "rgba.png", "palette.gif", "photo.jpg", "rgb.bmp"]:
        im = Image.open(f"{d}/{src}").convert("RGB")
        Image.fromarray(np.asarray(im)).save(f"{d}/{src}.rgb.png")
        for w, h in [(23, 17), (80, 64), (57, 41), (31, 90)]:
            for name, mode in [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)]:
                if src != "rgb.png" and (w, h) != (23, 17):
                    continue
                dst = f"{src}.{name}.{w}x{h}.png"
                im.resize((w, h), mode).save(f"{d}/{dst}")
                cases.append({"source": f"{src}.rgb.png", "width": w, "height": h, "filter": name, "expected": dst})
    with open(f"{d}/cases.json", "w") as f:
        json.dump(cases, f, indent=1)


def trajectory(out, steps=8):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(2)
    m = VisionTransformer(image_size=12, patch_size=4, num_layers=2, num_heads=3, hidden_dim=24, mlp_dim=40, num_classes=5)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias") or "ln" in name or "head" in name:
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if ("ln" in name and name.endswith("weight")) else 0.0))
    save_safetensors(f"{out}/trajectory_torchvision.safetensors", m.state_dict())
    x = torch.randn(6, 3, 12, 12)
    labels = torch.tensor([0, 3, 1, 4, 2, 3])
    m.train()  # no dropout in this config: train and eval modes compute the same
    # Tessera decays matrices (and the patch projection) but not biases, norms, tokens or position embeddings.
    decay = [p for n, p in m.named_parameters() if p.dim() >= 2 and n not in ("class_token", "encoder.pos_embedding")]
    rest = [p for n, p in m.named_parameters() if not (p.dim() >= 2 and n not in ("class_token", "encoder.pos_embedding"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    losses, norms = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(m(x), labels)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)))
        losses.append(float(loss))
        opt.step()
    with torch.no_grad():
        logits = m(x)
    save_safetensors(f"{out}/trajectory_io.safetensors", {
        "input": x, "labels": labels.float(), "losses": torch.tensor(losses), "grad_norms": torch.tensor(norms),
        "final_logits": logits})
    print("losses", losses)
    print("grad norms", norms)


def b16(out, onnx):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = tvm.vit_b_16().eval()
    with torch.no_grad():  # torchvision zero-inits the head: every logit would be 0 and agree with anything
        m.heads.head.weight.normal_(0, 0.05)
        m.heads.head.bias.normal_(0, 0.05)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        logits = m(x)
    save_safetensors(f"{out}/vit_b_16.safetensors", m.state_dict())
    save_safetensors(f"{out}/vit_b_16_io.safetensors", {"input": x, "logits": logits})
    if onnx:
        torch.onnx.export(m, torch.randn(1, 3, 224, 224), f"{out}/vit_b_16.onnx", input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, opset_version=14)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("small", "trajectory", "b16"):
        sys.exit(__doc__)
    if sys.argv[1] == "small":
        small(sys.argv[2], "--onnx" in sys.argv)
    elif sys.argv[1] == "trajectory":
        trajectory(sys.argv[2])
    else:
        b16(sys.argv[2], "--onnx" in sys.argv)
