#!/usr/bin/env python3
"""Record a QuantLens calibration set from any PyTorch nn.Module.

A calibration set holds, for every layer, the inputs X that layer sees: one array per layer, named
after the layer (the module's qualified name, so "encoder.fc1" feeds the tensor "encoder.fc1.weight"),
shaped [samples, features] for nn.Linear and [samples, C, H, W] for nn.Conv2d. Linear inputs with
extra leading dims (e.g. [batch, tokens, features]) are flattened to rows.

Usage as a library (needs only torch and numpy):

    from record_calibration import record_calibration
    record_calibration(model, batches, "calib.npz", max_samples=256)

Usage from the shell, for a model saved whole with torch.save(model) and inputs in a .npy file:

    python3 record_calibration.py model.pt inputs.npy calib.npz [--max-samples 256] [--batch 64]

Then: quantlens-cli calibrate weights.safetensors calib.npz --observer percentile:99.99
"""

import argparse

import numpy as np
import torch
from torch import nn

DEFAULT_TYPES = (nn.Linear, nn.Conv2d)


def record_calibration(model, batches, out_path, max_samples=256, layer_types=DEFAULT_TYPES):
    """Runs `model` on each batch of `batches` (tensors, or tuples of positional arguments) with
    forward pre-hooks on every module of `layer_types`, keeps the first `max_samples` rows of each
    layer's input and saves them as float32 arrays in `out_path` (.npz). Returns {name: shape}."""
    store = {}
    hooks = []

    def make_hook(name):
        def hook(module, args):
            x = args[0].detach()
            if isinstance(module, nn.Linear):
                x = x.reshape(-1, x.shape[-1])
            have = sum(a.shape[0] for a in store.get(name, []))
            if have < max_samples:
                store.setdefault(name, []).append(x[: max_samples - have].float().cpu().numpy())
        return hook

    for name, module in model.named_modules():
        if isinstance(module, layer_types) and name:
            hooks.append(module.register_forward_pre_hook(make_hook(name)))
    try:
        model.eval()
        with torch.no_grad():
            for batch in batches:
                if all(sum(a.shape[0] for a in store.get(n, [])) >= max_samples for n in store) and store:
                    break
                if isinstance(batch, (tuple, list)):
                    model(*batch)
                else:
                    model(batch)
    finally:
        for h in hooks:
            h.remove()
    arrays = {name: np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=np.float32)
              for name, parts in store.items()}
    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise ValueError(f"layer '{name}': the recorded inputs contain NaN or Inf")
    np.savez(out_path, **arrays)
    return {name: a.shape for name, a in arrays.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a module saved with torch.save(model)")
    p.add_argument("inputs", help=".npy file of model inputs, first axis = samples")
    p.add_argument("out", help="output .npz")
    p.add_argument("--max-samples", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    model = torch.load(a.model, weights_only=False)
    x = torch.from_numpy(np.load(a.inputs)).float()
    batches = (x[i: i + a.batch] for i in range(0, x.shape[0], a.batch))
    shapes = record_calibration(model, batches, a.out, a.max_samples)
    for name, shape in shapes.items():
        print(f"{name:40s} {list(shape)}")


if __name__ == "__main__":
    main()
