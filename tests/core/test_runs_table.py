"""The run history: finished, stopped and failed runs listed with the right status and numbers."""

import os

import pytest

from ftgui.core.errors import OutOfMemoryError
from ftgui.core.events import StepLogged
from ftgui.core.history import format_table, run_row, runs_table
from ftgui.core.runner import run_config


@pytest.fixture
def three_runs(tiny_config):
    root = os.environ["FTGUI_RUNS_DIR"]
    finished = tiny_config(training={"output_dir": f"{root}/finished", "max_steps": 4})
    run_config(finished)

    holder = []

    def stop_at_2(event):
        if isinstance(event, StepLogged) and event.step == 2:
            holder[0].request_stop()

    stopped = tiny_config(training={"output_dir": f"{root}/stopped", "max_steps": 8,
                                    "logging_steps": 1})
    run_config(stopped, [stop_at_2], runner_out=holder)

    def crash(event):
        if isinstance(event, StepLogged):
            raise RuntimeError("out of memory")

    failed = tiny_config(training={"output_dir": f"{root}/failed", "max_steps": 8,
                                   "logging_steps": 1})
    with pytest.raises(OutOfMemoryError):  # reported as a user error, with advice
        run_config(failed, [crash])
    return root


def test_history_lists_each_status(three_runs, tiny_model_dir):
    rows = {r["name"]: r for r in runs_table(three_runs)}
    assert set(rows) == {"finished", "stopped", "failed"}
    assert [r["name"] for r in runs_table(three_runs)][0] == "failed"  # newest first

    f = rows["finished"]
    assert f["status"] == "finished" and f["steps"] == 4 and f["total_steps"] == 4
    assert f["model"] == tiny_model_dir.name and f["dataset"] == "wiki-small.txt"
    assert f["final_loss"] > 0 and f["ppl_before"] > f["ppl_after"] > 1
    assert f["duration_s"] > 0 and f["date"][:2] == "20" and f["method"] == "full"

    s = rows["stopped"]
    assert s["status"] == "stopped" and s["steps"] == 3 and s["ppl_after"] is None
    assert rows["failed"]["status"] == "failed"
    assert "out of memory" in rows["failed"]["error"]


def test_history_text_table(three_runs):
    text = format_table(runs_table(three_runs))
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "MODEL", "DATASET", "STEPS", "LOSS",
                                "PERPLEXITY", "TIME", "STARTED"]
    finished = next(line for line in lines if line.startswith("finished"))
    assert "4/4" in finished and " -> " in finished and "wiki-small.txt" in finished


def test_history_of_missing_or_odd_folders(tmp_path):
    assert runs_table(tmp_path / "nowhere") == []
    (tmp_path / "not-a-run").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text(": not yaml [")
    (broken / "summary.json").write_text("{torn")
    rows = runs_table(tmp_path)
    assert [r["name"] for r in rows] == ["broken"]
    assert rows[0]["status"] == "unknown" and rows[0]["steps"] is None
    assert "broken" in format_table(rows)
    assert run_row(broken)["model"] == ""


def test_cli_runs(three_runs, capsys):
    import argparse

    from ftgui import cli_runs

    ap = argparse.ArgumentParser()
    cli_runs.add_parsers(ap.add_subparsers(dest="command"))
    assert cli_runs.COMMANDS["runs"](ap.parse_args(["runs"])) == 0  # $FTGUI_RUNS_DIR
    out = capsys.readouterr().out
    assert "finished" in out and "stopped" in out and "failed" in out and "3 runs" in out
    assert cli_runs.COMMANDS["runs"](ap.parse_args(["runs", "--dir", three_runs])) == 0
    from ftgui.core.errors import FtguiError
    with pytest.raises(FtguiError, match="not a folder"):
        cli_runs.COMMANDS["runs"](ap.parse_args(["runs", "--dir", three_runs + "/nope"]))


def test_fail7_one_malformed_run_does_not_break_the_listing(tiny_config, tmp_path):
    """config.yaml `model: [1]` and summary.json `duration_s: "abc"`: those runs are
    listed as unreadable with the reason, the good run as usual, by the core and by a real
    `ftgui runs` process (exit 0)."""
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = tmp_path / "runs"
    good = tiny_config(training={"output_dir": str(root / "good"), "max_steps": 2,
                                 "save_steps": 2})
    run_config(good)
    shutil.copytree(root / "good", root / "bad-config")
    (root / "bad-config" / "config.yaml").write_text("model: [1]\n")
    (root / "bad-config" / "summary.json").unlink()
    shutil.copytree(root / "good", root / "bad-summary")
    summary = json.loads((root / "good" / "summary.json").read_text())
    (root / "bad-summary" / "summary.json").write_text(
        json.dumps({**summary, "duration_s": "abc"}))

    rows = {r["name"]: r for r in runs_table(root)}
    assert rows["good"]["status"] == "finished" and rows["good"]["error"] is None
    assert rows["bad-config"]["status"] == "unreadable"
    assert "config.yaml: model is a list" in rows["bad-config"]["error"]
    assert rows["bad-summary"]["status"] == "unreadable"
    assert "duration_s is 'abc'" in rows["bad-summary"]["error"]
    assert rows["bad-summary"]["steps"] == 2          # what could be read still shows
    format_table(list(rows.values()))

    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "ftgui", "runs", "--dir", str(root)], cwd=repo,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    table = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:4]}
    assert table == {"good": "finished", "bad-config": "unreadable",
                     "bad-summary": "unreadable"}
    assert "3 runs in" in r.stdout
    assert "bad-summary is unreadable: summary.json: duration_s is 'abc'" in r.stderr
