"""The CLI imports the training libraries with the garbage collector paused, then frozen
(ftgui/core/startup.py): the collector is back on afterwards, the libraries' objects are
in the permanent generation, and a run trains exactly as without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import gc, json, sys
{prelude}
from ftgui.core.config import RunConfig
from ftgui.core.runner import run_config
from ftgui.core.events import StepLogged
steps = []
cfg = RunConfig.load(sys.argv[1])
run_config(cfg, [lambda e: steps.append(e.loss) if isinstance(e, StepLogged) else None])
print(json.dumps({{"losses": steps, "gc_enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}}))
"""


def _run(prelude: str, config: Path, tmp_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", RUN.format(prelude=prelude), str(config)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_training_is_unchanged_by_importing_with_the_collector_paused(tiny_config, tmp_path):
    results = []
    for n, prelude in enumerate(("", "from ftgui.core.startup import "
                                     "import_training_libraries; import_training_libraries()")):
        cfg = tiny_config(training={"output_dir": str(tmp_path / f"run{n}"), "max_steps": 6,
                                    "logging_steps": 1, "save_steps": 100})
        cfg.save(tmp_path / f"run{n}.yaml")
        results.append(_run(prelude, tmp_path / f"run{n}.yaml", tmp_path))
    plain, paused = results
    assert len(plain["losses"]) == 6 and paused["losses"] == plain["losses"]
    assert paused["gc_enabled"] and plain["gc_enabled"]
    assert plain["frozen"] == 0 and paused["frozen"] > 100_000   # the libraries' objects


def test_the_cli_trains_through_the_paused_imports(tiny_config, tmp_path):
    cfg = tiny_config(training={"max_steps": 2, "save_steps": 100})
    cfg.save(tmp_path / "run.yaml")
    code = ("import gc, sys; from ftgui.cli import main; "
            f"rc = main(['train', {str(tmp_path / 'run.yaml')!r}]); "
            "print(rc, gc.isenabled(), gc.get_freeze_count())")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
                       timeout=600)
    rc, enabled, frozen = p.stdout.strip().splitlines()[-1].split()
    assert rc == "0" and enabled == "True" and int(frozen) > 100_000, p.stderr[-2000:]
