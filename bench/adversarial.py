"""Issue 15's adversarial inputs, run for real through `python -m ftgui`: exit status, the
one error line, wall time and the process's peak memory (ru_maxrss), and whether the
files the case started with are unchanged.

    python bench/adversarial.py [--out bench/adversarial-result.json] [--only NAME ...]

Every case uses the tiny GPT-2 of tests/tiny_model.py and tests/fixtures/wiki-small.txt.
The rows of bench/FAULTS.md's "Adversarial inputs" table come from the JSON it writes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
WIKI = REPO / "tests" / "fixtures" / "wiki-small.txt"
INSTRUCTIONS = REPO / "tests" / "fixtures" / "instructions.jsonl"


# runs the command as its only child and reports that child's peak RSS (ru_maxrss)
WRAP = ("import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
        "file=sys.stderr)\n"
        "sys.exit(rc)\n")


def ftgui(args: list[str], env: dict | None = None, preexec=None, timeout: int = 900) -> dict:
    """Run `python -m ftgui ARGS`; exit status, seconds, peak RSS (MiB), error line."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", WRAP, sys.executable, "-m", "ftgui", *args],
                       cwd=REPO, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})}, preexec_fn=preexec)
    seconds = time.perf_counter() - t0
    lines = r.stderr.splitlines()
    peak = next((int(ln.split()[1]) for ln in reversed(lines) if ln.startswith("PEAK_KB")), 0)
    err = "\n".join(ln for ln in lines if not ln.startswith("PEAK_KB"))
    errors = [ln for ln in lines if ln.startswith("ftgui: error:")]
    return {"rc": r.returncode, "seconds": round(seconds, 1),
            "peak_rss_mib": round(peak / 1024), "error": errors[0] if errors else None,
            "error_lines": len(errors), "traceback": "Traceback" in err,
            "stderr_tail": err[-400:] if not errors else ""}


def snapshot(paths: list[Path]) -> dict:
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def config(path: Path, model: Path, data_file: Path, out: Path, **sections) -> Path:
    from ftgui.core.config import RunConfig
    raw = {"model": {"source": str(model), "method": "full"},
           "data": {"source": str(data_file), "validation": None, "block_size": 32},
           "training": {"output_dir": str(out), "max_steps": 2, "batch_size": 4,
                        "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 2,
                        "seed": 7}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path.write_text(RunConfig.from_dict(raw).to_yaml(), encoding="utf-8")
    return path


def long_line(path: Path, n_chars: int) -> Path:
    words = " ".join(WIKI.read_text(encoding="utf-8").split()) + " "
    with open(path, "w", encoding="utf-8") as fh:
        written = 0
        while written < n_chars:
            piece = words[:n_chars - written]
            fh.write(piece)
            written += len(piece)
        fh.write("\n")
    return path


def stopped_run(model: Path, out: Path) -> Path:
    from ftgui.core.config import RunConfig
    from ftgui.core.events import StepLogged
    from ftgui.core.runner import run_config
    cfg = RunConfig.from_dict({
        "model": {"source": str(model), "method": "full"},
        "data": {"source": str(WIKI), "validation": None, "block_size": 32},
        "training": {"output_dir": str(out), "max_steps": 8, "batch_size": 4,
                     "logging_steps": 1, "save_steps": 2, "save_total_limit": None}})
    holder = []

    def stop_at_3(event):
        if isinstance(event, StepLogged) and event.step == 3:
            holder[0].request_stop()
    run_config(cfg, [stop_at_3], runner_out=holder)
    return out


def fsize(limit: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def cases(work: Path, model: Path) -> dict:
    """name -> (what was injected, a callable returning the result dict)."""
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config
    from adversarial_inputs import (alias_bomb, damage_pickle, make_received_run,
                                    model_with_template)
    c = {}

    def simple(name, what, make_args, keep=(), **kw):
        def go():
            d = work / name
            d.mkdir()
            args = make_args(d)
            before = snapshot([Path(p) for p in keep] + [d])
            res = ftgui(args, **kw)
            after = snapshot([Path(p) for p in keep] + [d])
            res["inputs_unchanged"] = all(after.get(k) == v for k, v in before.items())
            return res
        c[name] = (what, go)

    def bomb_args(d):
        p = config(d / "bomb.yaml", model, WIKI, d / "run")
        p.write_text(p.read_text().replace("data:\n", f"data:\n  text_column: "
                                           f"{alias_bomb()}\n", 1))
        return ["train", str(p)]
    simple("yaml_alias_bomb", f"YAML alias bomb ({len(alias_bomb())} bytes, 9^9 values) in "
           "data.text_column", bomb_args)

    def huge_args(d):
        p = d / "huge.yaml"
        p.write_text("# padding\n" * 300_000)
        return ["train", str(p)]
    simple("yaml_huge", "a 3 MB config file", huge_args)

    def dup_args(d):
        p = config(d / "dup.yaml", model, WIKI, d / "run")
        p.write_text(p.read_text() + "training:\n  max_steps: 1\n")
        return ["train", str(p)]
    simple("yaml_duplicate_key", "a duplicate top-level key (training: twice)", dup_args)

    for seed in (2 ** 77, -1):
        simple(f"seed_{'2e77' if seed > 0 else 'minus1'}", f"training.seed {seed}",
               lambda d, seed=seed: ["train", str(config(d / "c.yaml", model, WIKI,
                                                         d / "run")),
                                     "--set", f"training.seed={seed}"])

    def file_out(d, under):
        (d / "notes.txt").write_text("mine")
        p = config(d / "c.yaml", model, WIKI, d / "run")
        target = d / "notes.txt" / "run" if under else d / "notes.txt"
        p.write_text(p.read_text().replace(str(d / "run"), str(target)))
        return ["train", str(p)]
    simple("output_dir_is_file", "training.output_dir is an existing file",
           lambda d: file_out(d, False))
    simple("output_dir_under_file", "training.output_dir lies under a file",
           lambda d: file_out(d, True))

    simple("eval_batch_size_0", "ftgui eval --batch-size 0",
           lambda d: ["eval", str(model), "--data", str(WIKI), "--batch-size", "0"])
    simple("eval_block_size_0", "ftgui eval --block-size 0",
           lambda d: ["eval", str(model), "--data", str(WIKI), "--block-size", "0"])
    simple("generate_empty_prompt", "ftgui generate --prompt ''",
           lambda d: ["generate", str(model), "--prompt", ""])

    for mb in (20, 40):
        def line_args(d, mb=mb):
            data = long_line(d / "line.txt", mb * 1_000_000)
            return ["train", str(config(d / "c.yaml", model, data, d / "run",
                                        data={"block_size": 128},
                                        training={"max_steps": 1}))]
        simple(f"long_line_{mb}mb", f"a {mb} MB single-line .txt, trained on", line_args)

    def mixed_args(d):
        words = WIKI.read_text(encoding="utf-8").split()
        rows = [{"text": " ".join(words[n * 10:n * 10 + 40])} if n % 6 == 0 else
                {"text": [n, None, ["a"], n * 0.5, None][n % 6 - 1]} for n in range(300)]
        src = d / "mixed.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return ["train", str(config(d / "c.yaml", model, src, d / "run",
                                    data={"block_size": 16}, training={"max_steps": 1}))]
    simple("jsonl_mixed_types", "a JSONL whose text column mixes strings with "
           "ints/nulls/lists (50 of 300 rows text)", mixed_args)

    for name, template, what in (
            ("template_raises", "{{ raise_exception('no') }}",
             "a chat template that raises"),
            ("template_unsafe", "{{ messages.__class__.__mro__ }}",
             "a chat template reaching for __class__ (sandbox SecurityError)"),
            ("template_endless", "{% for i in range(100000) %}{% for j in range(100000) %}"
             "{{ '' }}{% endfor %}{% endfor %}", "a chat template with nested "
             "range(100000) loops")):
        def tpl_args(d, template=template):
            m = model_with_template(model, d / "model", template)
            return ["train", str(config(d / "c.yaml", m, INSTRUCTIONS, d / "run",
                                        data={"format": "instruction",
                                              "template": "chat_template"}))]
        simple(name, what, tpl_args)

    def export_full():
        d = work / "export_disk_full"
        d.mkdir()
        run_config(RunConfig.load(config(d / "c.yaml", model, WIKI, d / "run")))
        size = (d / "run" / "model" / "model.safetensors").stat().st_size
        res = ftgui(["export", str(d / "run"), "--format", "merged", "--out",
                     str(d / "out")], preexec=fsize(size // 2))
        res["inputs_unchanged"] = not (d / "out").exists() and \
            not list(d.glob(".*partial")) and (d / "run" / "model").is_dir()
        return res
    c["export_disk_full"] = ("disk full during `ftgui export --format merged` "
                             "(RLIMIT_FSIZE half the weights)", export_full)

    def resume_case(name, what, spoil, after=None):
        """A stopped run (checkpoints 2 and 4), spoiled, then `ftgui resume`d."""
        def go():
            d = work / name
            d.mkdir()
            run = stopped_run(model, d / "run")
            spoil(d, run)
            before = snapshot([run / "checkpoints"])
            res = ftgui(["resume", str(run)])
            res["inputs_unchanged"] = snapshot([run / "checkpoints"]) == before
            if after:
                res.update(after(run))
            return res
        c[name] = (what, go)

    def delete_and_resume(run):
        shutil.rmtree(run / "checkpoints" / "checkpoint-4")
        return {"after_deleting_it": ftgui(["resume", str(run)])["rc"]}

    resume_case("damaged_checkpoint", "resume from a checkpoint whose optimizer.pt pickle "
                "is garbage (zip intact)",
                lambda d, run: damage_pickle(run / "checkpoints" / "checkpoint-4" /
                                             "optimizer.pt"), delete_and_resume)

    def other_model(d, run):
        from tiny_model import make_tiny_model
        other = make_tiny_model(d / "other", n_positions=128)
        cfg = run / "config.yaml"
        cfg.write_text(cfg.read_text().replace(str(model), str(other)))
    resume_case("changed_model", "resume after model.source in the run's config.yaml was "
                "changed to another size", other_model)

    def received():
        d = work / "trust"
        d.mkdir()
        run = make_received_run(model, d)
        marker = d / "code-ran.txt"
        env = {"FTGUI_TEST_CODE_MARKER": str(marker), "HF_MODULES_CACHE": str(d / "mods"),
               "FTGUI_CONFIG_DIR": str(d / "config")}
        res = ftgui(["generate", str(run), "--prompt", "The", "--max-new-tokens", "3"],
                    env=env)
        res["code_ran_unasked"] = marker.exists()
        res["with_flag"] = ftgui(["generate", str(run), "--prompt", "The",
                                  "--max-new-tokens", "3", "--trust-remote-code"],
                                 env=env)["rc"]
        res["again_without_flag"] = ftgui(["generate", str(run), "--prompt", "The",
                                           "--max-new-tokens", "3"], env=env)["rc"]
        res["inputs_unchanged"] = True
        return res
    c["trust_received_run"] = ("`ftgui generate RUN` on a received run folder whose "
                               "config.yaml turns on trust_remote_code (auto_map + .py)",
                               received)
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "bench" / "adversarial-result.json"))
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    from tiny_model import make_tiny_model
    results = {}
    with tempfile.TemporaryDirectory(prefix="ftgui-adversarial-") as tmp:
        work = Path(tmp)
        os.environ["FTGUI_CACHE_DIR"] = str(work / "cache")
        os.environ["FTGUI_RUNS_DIR"] = str(work / "runs")
        os.environ.setdefault("FTGUI_CONFIG_DIR", str(work / "config"))
        model = make_tiny_model(work / "tiny-gpt2")
        for name, (what, go) in cases(work, model).items():
            if a.only and name not in a.only:
                continue
            res = go()
            res["injected"] = what
            results[name] = res
            print(f"{name}: rc {res['rc']} in {res['seconds']} s, peak "
                  f"{res['peak_rss_mib']} MiB; {res['error']}", flush=True)
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
