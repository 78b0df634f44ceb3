"""Which device and number format a run uses, and why."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ftgui.core.errors import ConfigError


@dataclass
class DeviceChoice:
    device: str        # cpu | cuda | mps
    precision: str     # fp32 | bf16 | fp16
    reason: str        # why this device and precision were chosen
    description: str   # for a badge: "CUDA: NVIDIA A100 80 GB, bf16"
    memory_bytes: int  # memory the device has (host RAM for the CPU)
    count: int = 1     # devices of this kind: CUDA GPUs visible; 1 for the CPU and MPS


def _cpu_threads() -> int:
    import torch
    return torch.get_num_threads() or os.cpu_count() or 1


def _host_memory() -> int:
    import psutil
    return psutil.virtual_memory().total


def choose(device: str = "auto", precision: str = "auto") -> DeviceChoice:
    import torch

    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "cuda" and not has_cuda:
        raise ConfigError("training.device: CUDA was asked for but no CUDA GPU is visible "
                          "to PyTorch. Choose auto or cpu, or install a CUDA build of torch.",
                          field="training.device")
    if device == "mps" and not has_mps:
        raise ConfigError("training.device: Apple MPS was asked for but is not available "
                          "here. Choose auto or cpu.", field="training.device")
    if device == "auto":
        if has_cuda:
            device, why = "cuda", "a CUDA GPU is available"
        elif has_mps:
            device, why = "mps", "Apple MPS is available"
        else:
            device, why = "cpu", "no CUDA GPU or Apple MPS was found"
    else:
        why = f"training.device is {device}"

    if device == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        props = torch.cuda.get_device_properties(0)
        mem = props.total_memory
        name = f"CUDA: {props.name} {mem / 2**30:.0f} GB"
        if torch.cuda.device_count() > 1:
            name += f" (x{torch.cuda.device_count()})"
    elif device == "mps":
        bf16_ok, mem, name = False, _host_memory(), "Apple MPS"
    else:
        bf16_ok, mem, name = False, _host_memory(), f"CPU, {_cpu_threads()} threads"
    count = torch.cuda.device_count() if device == "cuda" else 1

    if precision == "auto":
        if device == "cuda":
            precision = "bf16" if bf16_ok else "fp16"
            why += "; " + ("bf16 because the GPU supports it" if bf16_ok
                           else "fp16 because the GPU lacks bf16")
        else:
            precision = "fp32"
            why += f"; fp32 because mixed precision brings no speed-up on {device.upper()}"
    else:
        if precision == "fp16" and device == "cpu":
            raise ConfigError("training.precision: fp16 training needs a GPU; choose fp32 "
                              "or bf16 on the CPU.", field="training.precision")
        if precision == "bf16" and device == "cuda" and not bf16_ok:
            raise ConfigError("training.precision: this GPU does not support bf16; choose "
                              "fp16 or auto.", field="training.precision")
        why += f"; {precision} because training.precision says so"
    return DeviceChoice(device, precision, why, f"{name}, {precision}", mem, count)


def torch_dtype(precision: str):
    """The torch number format for a ``DeviceChoice.precision`` (fp32, bf16, fp16)."""
    import torch
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
