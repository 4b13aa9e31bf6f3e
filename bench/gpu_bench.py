"""Fine-tuning speed on the accelerator at hand, and whether the data pipeline keeps up with it.

Prints one Markdown table per question:

1. Fine-tuning img/s per model (random weights) in fp32, bf16 (autocast) and bf16 + channels_last,
   with a plain PyTorch loop (forward, backward, AdamW on one resident batch).
2. headstart against that plain loop: the same model and batch through headstart's engine
   (Lightning, param groups, metrics), as a ratio of img/s.
3. The feature cache: a 10-epoch head phase with the backbone frozen, computed from the measured
   extraction and head-step rates, with and without the cache.
4. The fraction of the device's measured bf16 matmul peak that fine-tuning reaches (3 x forward FLOPs
   per image x img/s / peak).
5. Loader img/s (JPEG decode + augmentation in worker processes) against training img/s, and the
   GPU JPEG path (``gpu_decode``: nvJPEG + augmentation on GPU tensors) where CUDA is present.

On CUDA it measures resnet50, efficientnet_lite0 and vit_b_16 at 224 px. Without CUDA it runs a
short fallback (tinycnn at 64 px, a few steps) so the script itself is
checked on any machine; those numbers say nothing about a GPU.

    PYTHONPATH=src python bench/gpu_bench.py                 # what the device allows
    PYTHONPATH=src python bench/gpu_bench.py --quick         # the CPU-sized fallback anywhere
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_line, quiet, table  # sets sys.path to this checkout's src/

import numpy as np  # noqa: E402
import torch  # noqa: E402

GPU_MODELS = ("torchvision:resnet50", "efficientnet_lite0", "torchvision:vit_b_16")
CPU_MODELS = ("tinycnn",)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def build(name: str, image_size: int, device: torch.device, channels_last: bool = False):
    from headstart.backbones import create_backbone
    from headstart.heads import build_head
    from headstart.model import TransferModel

    options = {"image_size": image_size} if name == "tinycnn" else {}
    backbone = create_backbone(name, weights="none", **options)
    model = TransferModel(backbone, build_head("linear", backbone.num_features, 10), [str(i) for i in range(10)])
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def plain_loop_img_s(model, batch: int, size: int, steps: int, device: torch.device, bf16: bool,
                     channels_last: bool) -> float:
    """Full fine-tuning steps on one resident batch: the model's speed, no data loading."""
    x = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        with _autocast(device, bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    _sync(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch / (time.perf_counter() - began)


class _StepTimer:
    """Lightning callback: img/s over training batches ``warmup`` .. ``last`` (validation and
    checkpointing after the last batch are not counted)."""

    def __init__(self, warmup: int, last: int, batch: int, device: torch.device):
        import lightning as L

        timer = self

        class Callback(L.Callback):
            def on_train_batch_start(self, trainer, module, b, index):
                if index == warmup:
                    _sync(device)
                    timer.began = time.perf_counter()

            def on_train_batch_end(self, trainer, module, outputs, b, index):
                if index == last:
                    _sync(device)
                    timer.ended = time.perf_counter()

        self.callback, self.steps, self.batch = Callback(), last - warmup + 1, batch
        self.began = self.ended = None

    def img_s(self) -> float:
        return self.steps * self.batch / (self.ended - self.began)


def headstart_img_s(name: str, batch: int, size: int, steps: int, device: torch.device, precision: str,
                    channels_last: bool) -> float:
    """The same fine-tuning through headstart's engine (fit_plan: Lightning, param groups, metrics)."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from headstart.engine.fit import EngineOptions, fit_plan
    from headstart.strategies import StrategyOptions, plan_for

    model = build(name, size, torch.device("cpu"))
    warmup = 2
    n = batch * (steps + warmup)
    data = TensorDataset(torch.randn(n, 3, size, size), torch.randint(0, 10, (n,)))

    class Synthetic(L.LightningDataModule):
        def train_dataloader(self):
            return DataLoader(data, batch_size=batch, shuffle=False, drop_last=True)

        def val_dataloader(self):
            return DataLoader(torch.utils.data.Subset(data, range(batch)), batch_size=batch)

    timer = _StepTimer(warmup, warmup + steps - 1, batch, device)
    plan = plan_for("fine-tune", StrategyOptions(epochs=1, lr=1e-4), len(model.layer_groups()))
    options = EngineOptions(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                            precision=precision, progress_bar=False, channels_last=channels_last,
                            extra_callbacks=[timer.callback])
    with tempfile.TemporaryDirectory() as run_dir:
        fit_plan(model, Synthetic(), plan, Path(run_dir), options)
    return timer.img_s()


def inference_img_s(model, batch: int, size: int, steps: int, device: torch.device, bf16: bool) -> float:
    x = torch.randn(batch, 3, size, size, device=device)
    model.eval()
    with torch.inference_mode(), _autocast(device, bf16):
        model(x)
        _sync(device)
        began = time.perf_counter()
        for _ in range(steps):
            model(x)
        _sync(device)
    return steps * batch / (time.perf_counter() - began)


def head_step_img_s(features: int, batch: int, steps: int, device: torch.device) -> float:
    head = torch.nn.Linear(features, 10).to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3)
    x, y = torch.randn(batch, features, device=device), torch.randint(0, 10, (batch,), device=device)
    _sync(device)
    began = time.perf_counter()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(head(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - began)


def forward_flops(model, size: int, device: torch.device) -> float:
    """Forward FLOPs of one image at ``size`` px (torch's counter: matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, size, size, device=device))
    return counter.get_total_flops()


def bf16_matmul_peak(device: torch.device) -> float:
    """Measured bf16 matmul FLOP/s (large square matmuls), the roofline this device reaches."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    a @ b
    _sync(device)
    reps = 20 if device.type == "cuda" else 3
    began = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - began)


def jpeg_folder(root: Path, count: int, size: tuple[int, int]) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "ab"[i % 2] / f"{i}.jpg", quality=90)
    return root


def loader_img_s(folder: Path, image_size: int, batch: int, device: torch.device, gpu_decode: bool) -> float:
    """Training batches per second out of ImageDataModule (decode + augment), on ``device``."""
    from headstart.backbones.data_config import DataConfig
    from headstart.data.image_datamodule import ImageDataModule
    from headstart.data.images import load_image_dataset

    config = DataConfig(input_size=(3, image_size, image_size), mean=(0.5,) * 3, std=(0.5,) * 3,
                        interpolation="bilinear", crop_pct=0.875)
    dm = ImageDataModule(load_image_dataset(folder, val_fraction=0.1), config, batch_size=batch,
                         gpu_decode=gpu_decode)
    loader = dm.train_dataloader()
    count, began = 0, None
    for i, batch_ in enumerate(loader):
        images, labels = batch_
        if dm.gpu_decode:
            images = [t.to(device, non_blocking=True) for t in images]
            images, _ = dm.on_after_batch_transfer((images, labels.to(device)), 0)
        else:
            images = images.to(device, non_blocking=True)
        if i == 1:  # skip worker start-up and the first batch
            _sync(device)
            began = time.perf_counter()
        elif i > 1:
            count += len(labels)
    _sync(device)
    return count / (time.perf_counter() - began) if began and count else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small CPU fallback, even on a GPU")
    args = parser.parse_args()
    quiet()
    cuda = torch.cuda.is_available() and not args.quick
    device = torch.device("cuda" if cuda else "cpu")
    models, size, batch, steps = (GPU_MODELS, 224, 64, 20) if cuda else (CPU_MODELS, 64, 8, 3)
    name = torch.cuda.get_device_name(device) if cuda else "CPU fallback (tiny sizes: checks the script, not a GPU)"
    print(f"{machine_line()} | device: {name}\n")
    bf16_ok = not cuda or torch.cuda.is_bf16_supported()
    peak = bf16_matmul_peak(device)
    print(f"measured bf16 matmul peak: {peak / 1e12:.3g} TFLOP/s\n")

    speed_rows, ratio_rows, cache_rows, peak_rows, best = [], [], [], [], {}
    for model_name in models:
        conv = "vit" not in model_name
        fp32 = plain_loop_img_s(build(model_name, size, device), batch, size, steps, device, False, False)
        bf16 = plain_loop_img_s(build(model_name, size, device), batch, size, steps, device, True, False) if bf16_ok else float("nan")
        cl = plain_loop_img_s(build(model_name, size, device, True), batch, size, steps, device, bf16_ok, True) if conv else float("nan")
        speed_rows.append([model_name, round(fp32, 1), round(bf16, 1), round(cl, 1) if conv else "n/a (not a convnet)"])
        precision = "bf16-mixed" if bf16_ok else "16-mixed"
        ours = headstart_img_s(model_name, batch, size, steps, device, precision, conv)
        plain = cl if conv else bf16
        ratio_rows.append([model_name, precision + (" + channels_last" if conv else ""), round(plain, 1),
                           round(ours, 1), f"{ours / plain:.2f}"])
        model = build(model_name, size, device)
        extract = inference_img_s(model, batch, size, steps, device, bf16_ok)
        head = head_step_img_s(model.backbone.num_features, batch, steps * 5, device)
        epochs = 10
        uncached = epochs / extract  # s per image: the frozen backbone runs every epoch (head step is noise)
        cached = 1 / extract + epochs / head
        cache_rows.append([model_name, round(extract, 1), round(head, 1), f"{uncached / cached:.1f}x"])
        flops = 3 * forward_flops(model, size, device)
        achieved = flops * max(v for v in (fp32, bf16, cl) if v == v)
        peak_rows.append([model_name, f"{flops / 1e9:.2f}", f"{achieved / 1e12:.3g}", f"{achieved / peak:.1%}"])
        best[model_name] = max(v for v in (fp32, bf16, cl, ours) if v == v)
        del model
        if cuda:
            torch.cuda.empty_cache()

    print("### Fine-tuning img/s, plain PyTorch loop (batch %d, %d px, random weights)\n" % (batch, size))
    print(table(["model", "fp32", "bf16 autocast", "bf16 + channels_last"], speed_rows))
    print("\n### headstart engine against the plain loop (same model, batch, precision)\n")
    print(table(["model", "precision", "plain img/s", "headstart img/s", "ratio"], ratio_rows))
    print("\n### Feature cache: 10-epoch head phase with a frozen backbone\n")
    print(table(["model", "extraction img/s", "head-step img/s", "cache speed-up"], cache_rows))
    print("\n### Fraction of the measured bf16 matmul peak (%.3g TFLOP/s)\n" % (peak / 1e12))
    print(table(["model", "train GFLOP/img (3x fwd)", "achieved TFLOP/s", "of peak"], peak_rows))

    with tempfile.TemporaryDirectory() as tmp:
        count, shape = (512, (400, 300)) if cuda else (48, (96, 72))
        folder = jpeg_folder(Path(tmp), count, shape)
        cpu_loader = loader_img_s(folder, size, batch, device, gpu_decode=False)
        rows = [["CPU decode + augment (workers)", round(cpu_loader)]]
        if cuda:
            rows.append(["GPU decode (nvJPEG) + GPU augment", round(loader_img_s(folder, size, batch, device, True))])
        for model_name, rate in best.items():
            rows.append([f"training {model_name} (best above)", round(rate)])
    print(f"\n### Loader against training ({count} JPEGs of {shape[0]}x{shape[1]}, {size} px crops)\n")
    print(table(["pipeline", "img/s"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
