"""Benchmark: encoder extraction on one GPU, without Ray (runs where Ray is not installed).

For a ResNet-50-sized encoder at 256 px it measures, per model: loading a
safetensors file straight to the device into a resident module, and the forward
pass over the probe images in bf16 (and tf32 / strict fp32 for comparison),
then prints images/s and models/min. Target on one H200: 500 encoders × 500
probes end to end ≤ 60 s.

Run on a GPU machine: ``python bench/gpu_extract.py --models 20``.
``--smoke`` runs a tiny CPU version that only checks the script works.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn


class Bottleneck(nn.Module):
    """ResNet's bottleneck block (1×1, 3×3, 1×1 convolutions with a residual)."""

    def __init__(self, in_channels: int, width: int, stride: int):
        super().__init__()
        out_channels = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet50_encoder(blocks=(3, 4, 6, 3), base: int = 64) -> nn.Module:
    """A ResNet-50 trunk (25 M parameters) with Taskonomy's 1×1 conv to 8 channels as its output."""
    layers: list[nn.Module] = [nn.Conv2d(3, base, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(base), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    channels = base
    for stage, count in enumerate(blocks):
        for index in range(count):
            layers.append(Bottleneck(channels, base * 2**stage, 2 if index == 0 and stage > 0 else 1))
            channels = base * 2**stage * 4
    layers.append(nn.Conv2d(channels, 8, 1))
    return nn.Sequential(*layers)


def time_precision(module: nn.Module, weight_files, images: torch.Tensor, precision: str, batch_size: int, device: str) -> tuple[float, float]:
    """Seconds spent loading weights and running forwards, over all weight files."""
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")
    load_seconds = forward_seconds = 0.0
    for path in weight_files:
        start = time.perf_counter()
        module.load_state_dict(load_file(path, device=device))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        load_seconds += time.perf_counter() - start
        start = time.perf_counter()
        with torch.inference_mode(), autocast:
            for first in range(0, images.shape[0], batch_size):
                module(images[first : first + batch_size]).float()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        forward_seconds += time.perf_counter() - start
    return load_seconds, forward_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20, help="distinct weight files timed")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--precisions", nargs="+", default=["bf16", "tf32", "fp32"])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run that only checks the script")
    args = parser.parse_args()
    if args.smoke:
        args.models, args.images, args.size, args.batch_size, args.precisions = 2, 4, 64, 2, ["fp32", "bf16"]
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    module = resnet50_encoder().to(device).eval().to(memory_format=torch.channels_last)
    images = torch.rand(args.images, 3, args.size, args.size, device=device).to(memory_format=torch.channels_last)
    with tempfile.TemporaryDirectory() as folder:
        weight_files = []
        for index in range(args.models):
            torch.manual_seed(index)
            path = Path(folder) / f"encoder{index}.safetensors"
            save_file({k: v.contiguous().cpu() for k, v in resnet50_encoder().state_dict().items()}, path)
            weight_files.append(path)
        size_mb = weight_files[0].stat().st_size / 1e6
        name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
        print(f"{name}: ResNet-50 encoder ({size_mb:.0f} MB safetensors), {args.images} images at {args.size} px, {args.models} models")
        time_precision(module, weight_files[:1], images, args.precisions[0], args.batch_size, device)  # warm-up
        print(f"{'precision':>9} {'load ms/model':>14} {'forward ms/model':>17} {'images/s':>9} {'models/min':>11} {'500 models s':>13}")
        for precision in args.precisions:
            load, forward = time_precision(module, weight_files, images, precision, args.batch_size, device)
            per_model = (load + forward) / args.models
            print(f"{precision:>9} {1e3 * load / args.models:>14.1f} {1e3 * forward / args.models:>17.1f} "
                  f"{args.images * args.models / forward:>9.0f} {60 / per_model:>11.1f} {500 * per_model:>13.1f}")


if __name__ == "__main__":
    main()
