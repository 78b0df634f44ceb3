"""A two-process run (CPU, gloo) started from the window: the Devices choice sets
training.nproc, Train launches torchrun as a child, and the window follows events.jsonl:
the curve grows, Stop checkpoints every process, Resume relaunches and finishes; a child
that dies without a result is reported with its exit code and output."""

import os
import signal
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt

from ftgui.core.events import RunFinished, RunStarted, StepLogged, read_events
from ftgui.core.runs import RunDir
from ftgui.gui.workers.launch_worker import LOG_NAME, LaunchWorker

pytestmark = pytest.mark.slow


def _click(qtbot, button):
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _choose_two_processes(window, qtbot):
    """What a person does: wait for the device, pick '2 CPU processes' under Devices."""
    qtbot.waitUntil(lambda: window.device_choice is not None, timeout=60000)
    combo = window.training_panel.devices
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[0] == "This CPU (one process)"
    index = combo.findData(2)
    assert index > 0 and labels[index].startswith("2 CPU processes"), labels
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    assert window.model.config.training.nproc == 2
    assert window.fields["training.nproc"].editor.value() == 2  # the plain field follows


def _steps(rd):
    return [e.step for e in read_events(rd.events_path) if isinstance(e, StepLogged)]


def test_two_processes_from_the_window(window, qtbot, make_config):
    assert window.load_config(make_config(training={"max_steps": 30, "eval_steps": 15}))
    _choose_two_processes(window, qtbot)
    loss = window.plots.series["loss"]
    _click(qtbot, window.run_panel.train_button)
    assert isinstance(window.controller.worker, LaunchWorker)
    qtbot.waitUntil(lambda: len(loss.x) >= 3, timeout=120000)
    seen = len(loss.x)
    assert window.running and seen < 30
    # the curve keeps growing while the processes run
    with qtbot.waitSignal(window.runFinished, timeout=180000) as blocker:
        qtbot.waitUntil(lambda: len(loss.x) > seen, timeout=120000)
    rd = RunDir(blocker.args[0])
    assert rd.status() == "finished"
    events = read_events(rd.events_path)
    assert _steps(rd) == list(range(1, 31))  # one events.jsonl, each step once
    assert sum(isinstance(e, RunFinished) for e in events) == 1
    assert [e.step for e in events if e.kind == "eval"] == [0, 15, 30]
    assert list(window.plots.raw_curve.xData) == list(range(1, 31))
    assert (rd.model_dir / "model.safetensors").exists()
    assert rd.summary()["tokens_processed"] == 30 * 2 * 4 * 32  # global batch: 2 x 4 blocks
    assert "torch.distributed.run" in (rd.path / LOG_NAME).read_text()
    assert window.run_panel.progress.value() == 30
    assert not window.running


def test_stop_and_resume_two_processes_from_the_window(window, qtbot, make_config):
    assert window.load_config(make_config(training={"max_steps": 400, "eval_steps": None,
                                                    "nproc": 2, "save_total_limit": None}))
    rp = window.run_panel
    _click(qtbot, rp.train_button)
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 3, timeout=120000)
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        _click(qtbot, rp.stop_button)
    rd = RunDir(blocker.args[0])
    assert rd.status() == "stopped"
    cp = rd.latest_checkpoint()
    stopped_at = int(cp.name.split("-")[1])
    assert 3 <= stopped_at < 400
    assert {p.name for p in cp.glob("rng_state_*.pth")} == {"rng_state_0.pth",
                                                            "rng_state_1.pth"}
    assert window.plots.series["loss"].x[-1] == stopped_at
    assert not rd.stop_path.exists()

    # shorten the run through its saved config, then Resume from the window
    raw = yaml.safe_load(rd.config_path.read_text())
    raw["training"]["max_steps"] = stopped_at + 5
    rd.config_path.write_text(yaml.safe_dump(raw))
    qtbot.waitUntil(lambda: rp.runs.currentData() is not None and rp.resume_button.isEnabled())
    assert Path(rp.runs.currentData()) == rd.path
    with qtbot.waitSignal(window.runFinished, timeout=180000):
        _click(qtbot, rp.resume_button)
    assert rd.status() == "finished"
    starts = [e for e in read_events(rd.events_path) if isinstance(e, RunStarted)]
    assert [s.start_step for s in starts] == [0, stopped_at]
    assert _steps(rd) == list(range(1, stopped_at + 6))
    assert list(window.plots.raw_curve.xData) == list(range(1, stopped_at + 6))
    assert (rd.model_dir / "model.safetensors").exists()


def test_launched_processes_killed_are_reported(window, qtbot, make_config):
    assert window.load_config(make_config(training={"max_steps": 400, "nproc": 2}))
    _click(qtbot, window.run_panel.train_button)
    worker = window.controller.worker
    qtbot.waitUntil(lambda: worker.launch is not None and worker.launch.proc is not None,
                    timeout=60000)
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 1, timeout=120000)
    pid = worker.launch.proc.pid
    with qtbot.waitSignal(window.runFailed, timeout=60000) as blocker:
        os.killpg(pid, signal.SIGKILL)  # the launcher and its processes die at once
    message = blocker.args[0]
    assert "exit code -9" in message and "without finishing" in message
    assert window.banner.isVisible()
    qtbot.waitUntil(lambda: _group_gone(pid), timeout=10000)  # nothing left behind


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_close_during_a_launched_run_stops_the_processes(window, qtbot, make_config,
                                                          monkeypatch):
    monkeypatch.setattr(window, "ask_close_during_run", lambda: True)
    assert window.load_config(make_config(training={"max_steps": 400, "nproc": 2,
                                                    "eval_steps": None}))
    _click(qtbot, window.run_panel.train_button)
    worker = window.controller.worker
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 2, timeout=120000)
    pid = worker.launch.proc.pid
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10000)
    rd = RunDir(blocker.args[0])
    assert rd.status() == "stopped" and rd.latest_checkpoint() is not None
    assert _group_gone(pid)


def test_devices_choice_offers_every_gpu(window, qtbot):
    from ftgui.core.devices import DeviceChoice

    combo = window.training_panel.devices
    gpus = DeviceChoice("cuda", "bf16", "a CUDA GPU is available", "CUDA: H100 80 GB (x4)",
                        80 << 30, count=4)
    window.training_panel.set_device(gpus)
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "This GPU (one process)", "All 4 GPUs (one process each)",
        "The CPU only (one process)"]
    combo.activated.emit(1)
    assert window.model.config.training.nproc == 4
    # a count typed in the plain field shows as its own entry, and back
    window.model.set("training.nproc", 3)
    assert combo.currentText() == "3 processes (as training.nproc says)"
    combo.activated.emit(0)
    assert window.model.config.training.nproc == 1
    assert combo.count() == 3
    # the same control says where: the CPU on a machine with GPUs
    combo.activated.emit(2)
    t = window.model.config.training
    assert (t.device, t.nproc) == ("cpu", 1)
    assert combo.currentIndex() == 2
    # device and process count are one control: their own rows are hidden
    for key in ("training.device", "training.nproc"):
        assert not window.fields[key].isVisibleTo(window.training_panel), key


def test_events_tail_waits_for_whole_lines(tmp_path):
    import json

    from ftgui.core.events import JsonlSink, Message
    from ftgui.gui.workers.launch_worker import EventsTail

    path = tmp_path / "events.jsonl"
    JsonlSink(path)(Message("before the launch"))
    tail = EventsTail(path)
    assert tail.read() == []  # what was there before is not followed
    step = StepLogged(step=1, total_steps=9, epoch=0.1, loss=2.5, learning_rate=1e-3,
                      grad_norm=1.0, tokens_per_second=99.0, elapsed=1.0, eta=8.0)
    text = json.dumps(step.to_dict()) + "\n"
    with open(path, "a") as fh:
        fh.write(text[:20])  # a line being written: only its first part is there yet
    assert tail.read() == []
    with open(path, "a") as fh:
        fh.write(text[20:])
    assert tail.read() == [step]
    assert tail.read() == []
