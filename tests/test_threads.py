"""The OpenMP threading policy is the window process's alone: the CLI and the training
processes started from the window keep the libraries' defaults (ftgui/threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ftgui import threads
from ftgui.cli import opens_window

ROOT = Path(__file__).resolve().parents[1]
OMP = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "FTGUI_WINDOW_THREADS")

SHOW_ENV = "import os; print([os.environ.get(k) for k in {omp!r}])"


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OMP}
    env.update(PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"),
               FTGUI_RUNS_DIR=str(tmp_path / "runs"))
    return env


def _run(code: str, tmp_path: Path) -> str:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=_env(tmp_path), cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.strip().splitlines()[-1]


def test_cli_process_keeps_the_openmp_defaults(tmp_path):
    # the CLI's whole path to a training command, up to its first check of the config
    code = ("import sys, ftgui, torch; from ftgui.cli import main; "
            "rc = main(['train', 'missing.yaml']); assert rc == 2, rc; "
            + SHOW_ENV.format(omp=OMP))
    assert _run(code, tmp_path) == str([None] * len(OMP))


def test_window_process_gets_its_policy_before_torch_loads(tmp_path):
    # the real entry of the window: app.main, closed as soon as its event loop runs
    code = ("import sys; from PySide6.QtCore import QTimer; "
            "from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "from ftgui.gui import app as gui_app; "
            "QTimer.singleShot(0, app.quit); gui_app.main([]); "
            + SHOW_ENV.format(omp=OMP))
    values = dict(zip(OMP, eval(_run(code, tmp_path))))
    for name, value in threads.WINDOW_ENV.items():
        assert values[name] == value
    assert values["FTGUI_WINDOW_THREADS"] == ",".join(threads.WINDOW_ENV)


def test_opens_window_only_for_the_window_commands():
    assert opens_window([]) and opens_window(["gui"]) and opens_window(["gui", "a.yaml"])
    assert opens_window(["--self-test"])
    assert not opens_window(["train", "run.yaml"])
    assert not opens_window(["resume", "runs/x", "--launched"])
    assert not opens_window(["no-such-command"])


def test_a_value_the_user_set_wins_and_children_get_the_defaults_back():
    env = {"OMP_WAIT_POLICY": "ACTIVE", "PATH": "/bin"}
    chosen = threads.use_window_policy(env)
    assert "OMP_WAIT_POLICY" not in chosen and env["OMP_WAIT_POLICY"] == "ACTIVE"
    child = threads.child_env(env)
    assert child["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's, kept for children too

    env = {"PATH": "/bin"}
    chosen = threads.use_window_policy(env)
    assert chosen == threads.WINDOW_ENV and all(env[k] == v for k, v in chosen.items())
    assert threads.child_env(env) == {"PATH": "/bin"}


def test_processes_launched_from_the_window_train_without_its_policy(monkeypatch):
    from ftgui.gui.workers.launch_worker import _child_env
    for name in OMP:  # restored after the test, as they were
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    threads.use_window_policy()
    assert all(os.environ[k] == v for k, v in threads.WINDOW_ENV.items())
    child = _child_env()
    assert not any(name in child for name in OMP)
    assert child["QT_QPA_PLATFORM"] == "offscreen"
