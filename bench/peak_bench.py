"""Achieved fraction of this machine's measured matmul peak, for inference and full fine-tuning.

Peak: best GFLOP/s of large fp32 matmuls (and bf16 autocast, to show why headstart keeps fp32 on
CPUs without native bf16). Achieved: FLOPs per image (torch's FLOP counter; training = 3x the
forward) times images/s. Default: efficientnet_lite0 and random-init resnet50 at 224 px (~2 min).

    PYTHONPATH=src python bench/peak_bench.py [--steps 5] [--batch-size 32]
"""
from __future__ import annotations

import argparse
import warnings

import _common as c
import torch

from headstart.engine.speed import bf16_autocast_is_faster, cpu_flags, matmul_gflops

MODELS = {"efficientnet_lite0": "imagenet", "torchvision:resnet50": "none"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(c.machine_line())
    peaks = {size: matmul_gflops(torch.float32, size=size, seconds=1.0) for size in (512, 1024, 2048)}
    peak = max(peaks.values())
    bf16 = matmul_gflops(torch.bfloat16, size=1024, seconds=1.0, autocast=True)
    native = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16", "avx512f", "avx2"})
    print("\nfp32 matmul GFLOP/s by size: " + ", ".join(f"{s}: {g:.1f}" for s, g in peaks.items()))
    print(f"bf16 autocast matmul (1024): {bf16:.1f} GFLOP/s; flags {native}; headstart picks bf16 on CPU: "
          f"{bf16_autocast_is_faster('cpu')}")
    rows = []
    for name in args.models.split(","):
        model = c.make_model(name, MODELS.get(name, "none"))
        flops = c.forward_flops(model)
        infer = c.inference_images_per_s(model, args.batch_size, args.steps)
        train = c.train_images_per_s(model, args.batch_size, args.steps)
        rows.append([name, flops / 1e9, infer, infer * flops / 1e9 / peak, train, train * 3 * flops / 1e9 / peak])
        print(rows[-1], flush=True)
    print(f"\npeak = {peak:.1f} GFLOP/s (fp32)")
    print(c.table(["model", "GFLOP/img fwd", "inference img/s", "fraction of peak", "fine-tune img/s", "fraction of peak"], rows))


if __name__ == "__main__":
    main()
