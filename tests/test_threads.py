"""The OpenMP threading policy per process: the window waits passively; the CLI and the training
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


def _cli_at_load(load: float, tmp_path: Path, args: list[str]) -> tuple[list, str, int]:
    # the CLI's real path through a command, with the load average this machine reports
    # set to ``load`` per core; returns the OpenMP variables it ended with, its stderr and
    # whether torch was loaded only after the policy was chosen
    code = (f"import os, sys; from ftgui.threads import usable_cores; "
            f"cores = usable_cores(); "
            f"os.getloadavg = lambda: ({load} * cores, 0.0, 0.0); "
            f"import ftgui.threads as t; choose = t.use_cli_policy; "
            f"t.use_cli_policy = lambda *a, **k: (print('torch', 'torch' in sys.modules), "
            f"choose(*a, **k))[1]; "
            f"from ftgui.cli import main; rc = main({args!r}); "
            + SHOW_ENV.format(omp=OMP) + "; print(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=_env(tmp_path), cwd=tmp_path, timeout=300)
    out = p.stdout.strip().splitlines()
    assert p.returncode == 0 and "torch False" in out, p.stderr[-2000:]
    return eval(out[-2]), p.stderr, int(out[-1])


def test_cli_process_keeps_the_openmp_defaults_while_cores_are_free(tmp_path):
    values, err, rc = _cli_at_load(0.5, tmp_path, ["train", "missing.yaml"])
    assert rc == 2 and values == [None] * len(OMP)


def test_cli_waits_passively_when_the_load_already_fills_the_cores(tmp_path, tiny_config):
    # refused input: the policy is set (before torch), and the person reads only the error
    values, err, rc = _cli_at_load(1.0, tmp_path, ["train", "missing.yaml"])
    assert rc == 2 and dict(zip(OMP, values))["OMP_WAIT_POLICY"] == "PASSIVE"
    assert values[1:] == [None] * (len(OMP) - 1)   # nothing else, no window marker
    assert err.strip().startswith("ftgui: error:") and len(err.strip().splitlines()) == 1
    # a run: one line says what was chosen and how to choose otherwise
    cfg = tiny_config(training={"max_steps": 2, "save_steps": 100})
    cfg.save(tmp_path / "run.yaml")
    values, err, rc = _cli_at_load(1.0, tmp_path, ["train", str(tmp_path / "run.yaml")])
    assert rc == 0 and dict(zip(OMP, values))["OMP_WAIT_POLICY"] == "PASSIVE"
    said = [ln for ln in err.splitlines() if "OMP_WAIT_POLICY=PASSIVE" in ln]
    assert len(said) == 1 and "load average" in said[0] and "yourself" in said[0], err


def test_cli_policy_rule():
    assert threads.cli_policy(1.9, 2, {}) == {}
    assert threads.cli_policy(2.0, 2, {}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert threads.cli_policy(11.5, 2, {}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert threads.cli_policy(7.0, 8, {}) == {}
    assert threads.cli_policy(None, 2, {}) == {}          # no load average (Windows)
    for name in threads.USER_CHOICE:                      # the person's choice wins
        assert threads.cli_policy(50.0, 2, {name: "1"}) == {}


def test_a_person_who_chose_a_policy_keeps_it_under_load(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (99.0, 0.0, 0.0))
    env, said = {"OMP_WAIT_POLICY": "ACTIVE"}, []
    assert threads.use_cli_policy(env, said.append) == {} and said == []
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}
    env = {}
    assert threads.use_cli_policy(env, said.append) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"} and len(said) == 1


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
