#!/usr/bin/env python
"""ftgui beside LLaMA-Factory, run as a user would run each (``ftgui train`` and
``llamafactory-cli train``), on the same work.

    python bench/peer.py [--quick] [--repeats 3] [--steps 60] [--env NAME=VALUE]
        [--only SFT|PT] [--nice -15] [--json OUT]

LLaMA-Factory (``PEER_VERSION``) is installed on first use into its own cached venv
(``~/.cache/ftgui-bench/peer-venv``, or ``$FTGUI_PEER_VENV``), on the CPU torch of this
machine (a constraints file keeps pip from pulling another torch); when it cannot be
installed the bench says why and skips.

Workloads, both fp32, gradient checkpointing off, batch 8, no evaluation, one save at the
end: SFT on LLaMA-Factory's own Alpaca demo file (the records both sides keep whole at
cutoff 256: ``sft_data``; both sides render the examples with LLaMA-Factory's ``alpaca``
template, written into the model folder as its chat template so that ftgui uses it too)
and plain-text pre-training on WikiText-2 valid
(packed blocks of 128, EOS after each line on both sides). The tiny GPT-2 of the tests.

Each side is a separate process, started in turn (the order rotated every repetition,
so that the shared machine's load falls on both alike). Measured per run: process start
-> first step logged, steady steps/s (steps 10 -> last), non-pad tokens per step (ftgui:
its data pipeline's examples; the peer: transformers' ``num_input_tokens_seen``),
non-pad tokens/s, ftgui's own counts of the tokens trained on and processed (summary.json), peak RSS of the process tree, final loss. The ratios ftgui / peer of
the medians go into RESULTS.md (``run_all.py``) and ``bench/peer-result.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import (OMP_VARS, ROOT, SHARED, WIKI_VALID, add_nice_option,  # noqa: E402
                    at_niceness, load_average, median, tiny_model, work_dir)

PEER_VERSION = "0.9.5"
PEER_TORCH = "2.13.0"     # the CPU wheel on this machine, the same as ftgui's
PEER_TORCHVISION = "0.28.0"  # the release paired with torch 2.13 (pulled in by the peer)
ALPACA = SHARED / "published" / "llamafactory" / "alpaca_en_demo.json"
TARGETS = {"steady_steps_per_s": (">=", 1.05), "start_to_first_step_s": ("<=", 0.7),
           "peak_rss_mb": ("<=", 0.9)}


# ---- the peer's venv --------------------------------------------------------------------
def peer_venv() -> Path:
    return Path(os.environ.get("FTGUI_PEER_VENV",
                               Path.home() / ".cache" / "ftgui-bench" / "peer-venv"))


def ensure_peer() -> tuple[Path | None, str]:
    """The peer venv's python, installing it on first use; (None, why) when it cannot."""
    venv = peer_venv()
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import llamafactory, torch; "
             "from llamafactory.train.tuner import run_exp; "
             "print(llamafactory.__version__, torch.__version__)"]
    if py.exists():
        p = subprocess.run(check, capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.split()[0] == PEER_VERSION:
            return py, p.stdout.strip()
    print(f"peer: installing llamafactory=={PEER_VERSION} into {venv} (once)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        cons = venv / "constraints.txt"
        cons.write_text(f"torch=={PEER_TORCH}\ntorchvision=={PEER_TORCHVISION}\n")
        pip = [str(py), "-m", "pip", "install", "-q", "-c", str(cons)]
        subprocess.run(pip + [f"torch=={PEER_TORCH}"], check=True, timeout=1800)
        subprocess.run(pip + [f"llamafactory=={PEER_VERSION}"], check=True, timeout=1800)
        _cpu_only_media_libraries(py)
    except (subprocess.SubprocessError, OSError) as e:
        return None, f"could not install llamafactory=={PEER_VERSION}: {e}"
    p = subprocess.run(check, capture_output=True, text=True)
    if p.returncode != 0:
        return None, f"llamafactory does not import: {p.stderr.strip()[-500:]}"
    return py, p.stdout.strip()


def _cpu_only_media_libraries(py: Path) -> None:
    """LLaMA-Factory requires torchvision and torchaudio (for images and audio, unused
    here), and imports torchaudio at start. The torchvision paired with torch 2.13 on this
    index is a CUDA build whose operators fail to load on CPU torch (transformers then
    cannot import), and torchaudio's newest release (2.11) has compiled operators built
    for torch 2.11. So: torchvision is removed (transformers runs without it), and
    torchaudio's compiled operators are removed, which torchaudio supports (it then imports
    without them; `_extension/utils.py`: "the library file is not found")."""
    subprocess.run([str(py), "-m", "pip", "uninstall", "-y", "-q", "torchvision"],
                   check=False)
    import glob
    for so in glob.glob(str(py.parents[1] / "lib" / "python*" / "site-packages" /
                            "torchaudio" / "lib" / "*.so")):
        os.remove(so)


# ---- the shared inputs ------------------------------------------------------------------
def alpaca_template(peer_py: Path, model: Path) -> str:
    """LLaMA-Factory's ``alpaca`` template as a Jinja chat template (its own conversion)."""
    code = ("import sys; from transformers import AutoTokenizer; "
            "from llamafactory.data.template import get_template_and_fix_tokenizer; "
            "from llamafactory.hparams import DataArguments; "
            "tok = AutoTokenizer.from_pretrained(sys.argv[1]); "
            "get_template_and_fix_tokenizer(tok, DataArguments(template='alpaca')); "
            "print('TEMPLATE' + repr(tok.chat_template))")
    p = subprocess.run([str(peer_py), "-c", code, str(model)], capture_output=True,
                       text=True, check=True)
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("TEMPLATE"))
    import ast
    return ast.literal_eval(line[len("TEMPLATE"):])


def sft_model(peer_py: Path) -> Path:
    """The tiny GPT-2 with the alpaca template as its chat template (both sides load it)."""
    out = work_dir() / "tiny-gpt2-alpaca"
    if (out / "config.json").exists():
        return out
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(tiny_model(), tmp)
    tc = tmp / "tokenizer_config.json"
    cfg = json.loads(tc.read_text())
    cfg["chat_template"] = alpaca_template(peer_py, tmp)
    tc.write_text(json.dumps(cfg, indent=2))
    (tmp / "chat_template.jinja").unlink(missing_ok=True)
    tmp.rename(out)
    return out


SFT_LENGTH = 256
FIT_MARGIN = 8   # tokens: the peer joins instruction and input with "\n", ftgui with "\n\n"


def sft_data(model: Path, length: int = SFT_LENGTH) -> Path:
    """The records of the Alpaca demo file that both sides train on whole at this cutoff.

    With the full file the two sides do different work: 498 of its 1,000 responses alone
    are longer than 256 tokens of the tiny GPT-2's tokenizer; LLaMA-Factory cuts them
    (source and target shortened in proportion) and ftgui drops them (it never cuts a
    final response), so ftgui trained on the 501 shorter examples and the peer on all
    1,000 (1,569 vs 1,790 non-pad tokens a step). Keeping the records whose whole example
    (rendered by ftgui's own pipeline) fits with ``FIT_MARGIN`` to spare gives both the same
    examples, uncut; the bench still checks the tokens per step."""
    out = work_dir() / f"alpaca_en_demo-whole-{length}.json"
    if out.exists():
        return out
    from transformers import AutoTokenizer
    from ftgui.core import formats, sft
    from ftgui.core.config import DataConfig
    rows = json.loads(ALPACA.read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(model)
    cfg = DataConfig(source=str(ALPACA), format="instruction", template="auto")
    sft.prepare_tokenizer(tok, cfg.template)
    reading = formats.detect(rows, cfg, str(ALPACA))
    keep = [r for n, r in enumerate(rows, 1)
            if (r.get("output") or "").strip() and len(sft.encode(
                formats.row_to_chat(r, reading, n, str(ALPACA)), tok, False)[0])
            <= length - FIT_MARGIN]
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(json.dumps(keep, ensure_ascii=False), encoding="utf-8")
    tmp.rename(out)
    return out


def workloads(peer_py: Path) -> dict[str, dict]:
    model = sft_model(peer_py)
    data = sft_data(model)
    return {
        "SFT": {"model": model, "data": data, "length": SFT_LENGTH,
                "ftgui_data": {"format": "instruction", "template": "auto"},
                "peer": {"stage": "sft", "template": "alpaca", "packing": False,
                         "dataset_info": {"file_name": str(data)}}},
        "PT": {"model": tiny_model(), "data": WIKI_VALID, "length": 128,
               "ftgui_data": {"format": "text", "add_eos": True},
               "peer": {"stage": "pt", "template": "empty", "packing": True,
                        "dataset_info": {"file_name": str(WIKI_VALID),
                                         "columns": {"prompt": "text"}}}},
    }


def ftgui_config(w: dict, steps: int, out: Path) -> dict:
    return {"model": {"source": str(w["model"]), "method": "full"},
            "data": {"source": str(w["data"]), "block_size": w["length"], "validation": None,
                     **w["ftgui_data"]},
            "training": {"output_dir": str(out), "max_steps": steps, "batch_size": 8,
                         "learning_rate": 1e-3, "scheduler": "linear", "warmup_ratio": 0.0,
                         "weight_decay": 0.0, "precision": "fp32",
                         "gradient_checkpointing": False, "logging_steps": 1,
                         "save_steps": 100000, "seed": 42, "device": "cpu"}}


def peer_config(w: dict, steps: int, out: Path, dataset_dir: Path) -> dict:
    p = w["peer"]
    (dataset_dir / "dataset_info.json").write_text(json.dumps({"bench": p["dataset_info"]}))
    return {"model_name_or_path": str(w["model"]), "stage": p["stage"], "do_train": True,
            "finetuning_type": "full", "dataset": "bench", "dataset_dir": str(dataset_dir),
            "template": p["template"], "cutoff_len": w["length"], "packing": p["packing"],
            "overwrite_cache": True, "preprocessing_num_workers": None,
            "output_dir": str(out), "logging_steps": 1,   # a new folder each repetition
            "save_strategy": "no", "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1, "learning_rate": 1e-3,
            "lr_scheduler_type": "linear", "warmup_ratio": 0.0, "max_steps": steps,
            "bf16": False, "fp16": False, "disable_gradient_checkpointing": True,
            "seed": 42, "report_to": "none", "plot_loss": False,
            "include_num_input_tokens_seen": "non_padding", "dataloader_num_workers": 0}


# ---- one timed run ----------------------------------------------------------------------
class TreeRss:
    """Peak resident memory of a process and its children, sampled every 50 ms."""

    def __init__(self, pid: int):
        import psutil
        self.proc, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        import psutil
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak / 2 ** 20


LOSS_LINE = re.compile(r"\{'loss': '?([0-9.eE+-]+)'?")
TOKENS = re.compile(r"'num_input_tokens_seen': '?([0-9.eE+]+)'?")


NICE = 0  # --nice


def run_side(side: str, cmd: list[str], env: dict, events: Path | None) -> dict:
    """Start ``cmd``; step times come from ftgui's events.jsonl or the peer's log lines
    (one per step: logging_steps=1), stamped as they arrive."""
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env, cwd=ROOT, bufsize=1, preexec_fn=at_niceness(NICE))
    rss = TreeRss(p.pid)
    steps, tail, tokens = [], [], []
    for line in p.stdout:
        tail = (tail + [line])[-40:]
        m = LOSS_LINE.search(line)
        if m and events is None:
            steps.append((time.time(), float(m.group(1))))
            t = TOKENS.search(line)
            if t:
                tokens.append(float(t.group(1)))
    rc = p.wait()
    wall = time.time() - t0
    peak = rss.stop()
    if rc != 0:
        raise RuntimeError(f"{side} exited {rc}:\n{''.join(tail)}")
    if events is not None:
        evs = [json.loads(ln) for ln in events.read_text().splitlines()]
        steps = [(e["time"], e["loss"]) for e in evs if e.get("event") == "step"]
    return {"side": side, "t0": t0, "wall_s": wall, "peak_rss_mb": peak,
            "step_times": [t - t0 for t, _ in steps], "losses": [x for _, x in steps],
            "tokens_seen": tokens}


def summarize(r: dict, first: int = 10) -> dict:
    ts = r["step_times"]
    n = len(ts)
    out = {"steps": n, "start_to_first_step_s": ts[0] if ts else None,
           "steady_steps_per_s": (n - first) / (ts[-1] - ts[first - 1]) if n > first else None,
           "peak_rss_mb": r["peak_rss_mb"], "final_loss": r["losses"][-1] if ts else None,
           "wall_s": r["wall_s"]}
    return out


def ftgui_tokens_per_step(w: dict, steps: int, tmp: Path) -> float:
    """Non-pad tokens per step of ftgui's run: the mean length of the examples its own
    data pipeline makes, times the batch (a packed block is all real tokens)."""
    os.environ["FTGUI_CACHE_DIR"] = str(tmp / "token-count-cache")
    from ftgui.core import data, models
    from ftgui.core.config import RunConfig
    cfg = RunConfig.from_dict(ftgui_config(w, steps, tmp / "unused"))
    tok = models.load_tokenizer(cfg.model)
    prepared = data.prepare(cfg.data, tok, cfg.training.seed)
    return float(prepared.train.lengths().mean()) * cfg.training.batch_size


def rotated(names: list[str], r: int) -> list[str]:
    return names[r % len(names):] + names[:r % len(names)]


def run(quick: bool = False, repeats: int = 3, steps: int = 60,
        env: list[str] = (), only: list[str] = ()) -> dict:
    peer_py, about = ensure_peer()
    if peer_py is None:
        print(f"peer: skipped: {about}")
        return {"skipped": about}
    if quick:
        repeats, steps = 1, 30
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-peer-"))
    base_env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    base_env.update(kv.split("=", 1) for kv in env)  # the same on both sides
    base_env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", DISABLE_VERSION_CHECK="1",
                    CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false")
    ftgui_env = {**base_env, "PYTHONPATH": str(ROOT)}
    peer_env = {k: v for k, v in base_env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    peer_env["PATH"] = str(peer_py.parent) + os.pathsep + peer_env.get("PATH", "")
    import yaml
    results: dict = {"peer": "LLaMA-Factory {} on torch {}".format(*about.split()),
                     "steps": steps, "repeats": repeats, "env_both_sides": list(env),
                     "loads": [], "workloads": {}}
    for wname, w in workloads(peer_py).items():
        if only and wname not in only:
            continue
        raw = {"ftgui": [], "peer": []}
        ftgui_tokens = ftgui_tokens_per_step(w, steps, tmp)
        for r in range(repeats):
            for side in rotated(["ftgui", "peer"], r):
                d = tmp / f"{wname}-{side}-{r}"
                d.mkdir()
                results["loads"].append(load_average())
                env = {**(ftgui_env if side == "ftgui" else peer_env),
                       "FTGUI_CACHE_DIR": str(d / "cache"), "HF_DATASETS_CACHE": str(d / "hf")}
                if side == "ftgui":
                    (d / "c.yaml").write_text(yaml.safe_dump(ftgui_config(w, steps, d / "run")))
                    res = run_side(side, [sys.executable, "-m", "ftgui", "train",
                                          str(d / "c.yaml")], env,
                                   d / "run" / "events.jsonl")
                else:
                    (d / "c.yaml").write_text(yaml.safe_dump(peer_config(w, steps, d / "out",
                                                                         d)))
                    res = run_side(side, [str(peer_py.parent / "llamafactory-cli"), "train",
                                          str(d / "c.yaml")], env, None)
                s = summarize(res)
                s["tokens_per_step"] = (res["tokens_seen"][-1] / len(res["tokens_seen"])
                                        if res["tokens_seen"] else ftgui_tokens)
                if side == "ftgui":   # its own counts (core/measure.py), summed over steps
                    done = json.loads((d / "run" / "summary.json").read_text())
                    n = max(done.get("steps") or len(res["step_times"]), 1)
                    s["trained_tokens_per_step"] = (done.get("tokens_trained") or 0) / n
                    s["processed_tokens_per_step"] = (done.get("tokens_processed") or 0) / n
                print(wname, side, json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                               for k, v in s.items()}), flush=True)
                raw[side].append({**s, "step_times": res["step_times"],
                                  "losses": res["losses"]})
                shutil.rmtree(d, ignore_errors=True)
        results["workloads"][wname] = {"runs": raw, "summary": summary(raw)}
    shutil.rmtree(tmp, ignore_errors=True)
    return results


METRICS = ("start_to_first_step_s", "steady_steps_per_s", "tokens_per_s", "peak_rss_mb",
           "final_loss", "tokens_per_step", "wall_s")


def summary(raw: dict) -> dict:
    """Per metric: each side's median, ftgui / peer of the medians, and the spread (the
    ratio in each repetition, the sides of a repetition run back to back)."""
    for side in raw.values():
        for x in side:
            x["tokens_per_s"] = (x["steady_steps_per_s"] or 0) * x["tokens_per_step"]
    out = {}
    for m in ("trained_tokens_per_step", "processed_tokens_per_step"):   # ftgui's own counts
        out[m] = {"ftgui": median([x.get(m) for x in raw["ftgui"]])}
    for m in METRICS:
        a = [x[m] for x in raw["ftgui"]]
        b = [x[m] for x in raw["peer"]]
        out[m] = {"ftgui": median(a), "peer": median(b), "ratio": median(a) / median(b),
                  "per_repeat": [x / y for x, y in zip(a, b)]}
    for m, (op, bar) in TARGETS.items():
        r = out[m]["ratio"]
        out[m]["target"] = f"{op} {bar}"
        out[m]["met"] = r >= bar if op == ">=" else r <= bar
    return out


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="set in both sides' environment (e.g. OMP_WAIT_POLICY=PASSIVE on a "
                         "machine whose cores other jobs also use)")
    ap.add_argument("--only", action="append", default=[], choices=("SFT", "PT"),
                    help="run this workload only (repeatable)")
    add_nice_option(ap)
    ap.add_argument("--json")
    a = ap.parse_args()
    global NICE
    NICE = a.nice
    res = run(a.quick, a.repeats, a.steps, a.env, a.only)
    res["nice"] = a.nice
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
