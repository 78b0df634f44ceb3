"""History tab: the runs folder as a table with each run's status, one run's curves and config,
several runs overlaid with their config differences, and Resume / New run / Delete from it.
Runs are made for real through the core on the tiny model."""

import os
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from ftgui.core.events import EvalLogged, JsonlSink, RunStarted, StepLogged, read_events
from ftgui.core.runner import run_config
from ftgui.core.runlock import RunLock
from ftgui.core.runs import RunDir, default_runs_dir


def _run(tiny_config, name, **training):
    cfg = tiny_config(training={"output_dir": str(default_runs_dir() / name), **training})
    assert run_config(cfg)["status"] == "finished"
    return RunDir(cfg.training.output_dir)


def _stopped(tiny_config, name, at=3):
    """Stopped through the Runner after step ``at`` (the step in flight completes)."""
    cfg = tiny_config(training={"output_dir": str(default_runs_dir() / name),
                                "save_steps": 100, "logging_steps": 1})
    holder = []

    def stop(event):
        if isinstance(event, StepLogged) and event.step == at:
            holder[0].request_stop()

    assert run_config(cfg, [stop], runner_out=holder)["status"] == "stopped"
    return RunDir(cfg.training.output_dir)


def _failed(tiny_config, name, monkeypatch):
    from transformers import GPT2LMHeadModel

    def broken(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        raise RuntimeError("forward broken on purpose")

    # its own seed: the base evaluation the finished run kept would be reused, and this
    # run is to fail before it has logged anything
    cfg = tiny_config(training={"output_dir": str(default_runs_dir() / name), "seed": 99})
    with monkeypatch.context() as m:
        m.setattr(GPT2LMHeadModel, "forward", broken)
        with pytest.raises(RuntimeError, match="on purpose"):
            run_config(cfg)
    return RunDir(cfg.training.output_dir)


def _interrupted(tiny_config, name):
    """A run whose writer process died mid-run (killed, crashed): trained to its first
    checkpoint, then marked running by a process that is gone."""
    rd = _stopped(tiny_config, name, at=5)
    rd.write_summary({**rd.summary(), "status": "running"})   # and nobody holds its lock
    return rd


def _table(history) -> dict[str, dict[str, str]]:
    """The table as shown: run name -> {column header: text}."""
    m = history.model
    heads = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    rows = {}
    for r in range(m.rowCount()):
        cells = {h: m.index(r, c).data() for c, h in enumerate(heads)}
        rows[cells["Name"]] = cells
    return rows


def _refreshed(qtbot, history):
    """Wait until the rows of the refresh going on are shown (the folder is read off the
    GUI thread)."""
    qtbot.waitUntil(lambda: not history.refreshing, timeout=30000)


def _refresh(qtbot, history):
    with qtbot.waitSignal(history.refreshed, timeout=30000):
        history.refresh()
    assert not history.refreshing


def _select(qtbot, history, *runs):
    _refreshed(qtbot, history)
    with qtbot.waitSignal(history.loaded, timeout=30000):
        history.select_paths([str(r.path) for r in runs])
    assert sorted(history.selected_paths()) == sorted(str(r.path) for r in runs)


def _curves(history):
    """The detail plot's data items that hold data."""
    return [i for i in history.detail.plot.getPlotItem().listDataItems()
            if i.xData is not None and len(i.xData)]


def _loss(rd):
    return [(e.step, e.loss) for e in read_events(rd.events_path) if isinstance(e, StepLogged)]


def test_lists_finished_stopped_failed_and_interrupted_runs(window, qtbot, tiny_config,
                                                            monkeypatch):
    done = _run(tiny_config, "done")
    stopped = _stopped(tiny_config, "halted")
    failed = _failed(tiny_config, "broken", monkeypatch)
    cut = _interrupted(tiny_config, "cut-off")
    h = window.history
    window.side_tabs.setCurrentWidget(h)   # showing the tab reads the folder again
    assert h.refreshing
    assert window.side_tabs.tabText(window.side_tabs.indexOf(h)) == "History"
    assert h.folder_label.text() == str(default_runs_dir())

    _refreshed(qtbot, h)
    rows = _table(h)
    assert set(rows) == {"done", "halted", "broken", "cut-off"}
    assert rows["done"]["Status"] == "finished"
    assert rows["halted"]["Status"] == "stopped"
    assert rows["broken"]["Status"] == "failed"
    assert rows["cut-off"]["Status"] == cut.status()
    if os.name == "posix":   # elsewhere a dead writer is told apart only with psutil
        assert cut.status() == "interrupted"
    assert rows["done"]["Steps"] == "12/12" and rows["halted"]["Steps"] == "4/12"
    assert float(rows["done"]["Final loss"]) == pytest.approx(
        RunDir(done.path).summary()["final_train_loss"], abs=1e-4)
    assert "→" in rows["done"]["Perplexity"]
    assert rows["done"]["Model"] == Path(done.load_config().model.source).name
    # statuses are told apart by colour too, not only by the word
    colours = {}
    for r in range(h.model.rowCount()):
        index = h.model.index(r, 1)
        assert not index.data(Qt.ItemDataRole.DecorationRole).isNull()
        colours[index.data()] = index.data(Qt.ItemDataRole.ForegroundRole).name()
    assert len({colours["finished"], colours["stopped"], colours["failed"]}) == 3
    # the failed run's message is one hover away
    failed_row = h.model.row_of(str(failed.path))
    assert "on purpose" in h.model.index(failed_row, 0).data(Qt.ItemDataRole.ToolTipRole)

    # the actions follow the status of the one selected run
    _select(qtbot, h, stopped)
    assert h.resume_action.isEnabled() and "checkpoint-4" in h.resume_action.toolTip()
    assert not h.export_action.isEnabled() and not h.playground_action.isEnabled()
    _select(qtbot, h, done)
    assert not h.resume_action.isEnabled()
    assert h.export_action.isEnabled() and h.playground_action.isEnabled()
    with qtbot.waitSignal(h.exportRequested) as export, \
            qtbot.waitSignal(h.openInPlayground) as play:
        h.export_action.trigger()
        h.playground_action.trigger()
    assert export.args == [str(done.path)] and play.args == [str(done.path)]
    assert window.side_tabs.currentWidget() is window.playground   # the window follows
    assert Path(window.playground.run_dir()) == done.path.resolve()
    window.side_tabs.setCurrentWidget(h)
    _select(qtbot, h, failed)   # failed before its first checkpoint: restarts from step 0
    assert h.resume_action.isEnabled() and "step 0" in h.resume_action.toolTip()
    # no loss logged: an empty plot, not the axes left from the finished run shown before
    assert _curves(h) == [] and "No training loss" in h.detail.title.text()
    assert max(h.detail.plot.getPlotItem().viewRange()[1]) < 2 < _loss(done)[-1][1]
    if cut.status() == "interrupted":
        _select(qtbot, h, cut)
        assert h.resume_action.isEnabled()
        assert cut.latest_checkpoint().name in h.resume_action.toolTip()
        assert h.delete_action.isEnabled() and not h.export_action.isEnabled()

    # sorting by a column sorts on the value, not the text
    h.table.sortByColumn(4, Qt.SortOrder.AscendingOrder)
    steps = [h.model.index(r, 4).data() for r in range(h.model.rowCount())]
    assert steps.index("4/12") < steps.index("12/12")


def test_two_runs_overlay_and_show_their_config_differences(window, qtbot, tiny_config):
    fast = _run(tiny_config, "lr-1e-3", learning_rate=1e-3, logging_steps=1)
    slow = _run(tiny_config, "lr-2e-4", learning_rate=2e-4, logging_steps=2)
    h = window.history
    _refresh(qtbot, h)
    assert h.detail.splitter.isHidden()   # nothing selected: a hint, not empty axes

    _select(qtbot, h, fast, slow)
    assert not h.detail.splitter.isHidden()
    curves = _curves(h)
    assert len(curves) == 2
    by_name = {c.name(): c for c in curves}
    assert set(by_name) == {"lr-1e-3", "lr-2e-4"}
    for rd in (fast, slow):
        c = by_name[rd.path.name]
        steps, losses = zip(*_loss(rd))
        assert c.xData.tolist() == list(steps)
        assert c.yData.tolist() == pytest.approx(list(losses))
    assert by_name["lr-1e-3"].opts["pen"].color() != by_name["lr-2e-4"].opts["pen"].color()
    legend = [label.text for _, label in h.detail.legend.items]
    assert sorted(legend) == ["lr-1e-3", "lr-2e-4"]

    diffs = h.detail.diffs
    assert h.detail.side.currentWidget() is diffs
    cols = [diffs.horizontalHeaderItem(c).text() for c in range(diffs.columnCount())]
    table = {diffs.item(r, 0).text(): {cols[c]: diffs.item(r, c).text()
                                       for c in range(1, diffs.columnCount())}
             for r in range(diffs.rowCount())}
    assert table["training.learning_rate"] == {"lr-1e-3": "0.001", "lr-2e-4": "0.0002"}
    assert table["training.logging_steps"] == {"lr-1e-3": "1", "lr-2e-4": "2"}
    assert "training.output_dir" not in table and "training.max_steps" not in table
    assert "2 settings differ" in h.detail.title.text()

    # one run: its training and validation curves, and its config as YAML, read-only
    _select(qtbot, h, slow)
    curves = {c.name(): c for c in _curves(h)}
    assert set(curves) == {"train loss", "validation loss"}
    evals = [(e.step, e.loss) for e in read_events(slow.events_path)
             if isinstance(e, EvalLogged)]
    assert curves["validation loss"].xData.tolist() == [s for s, _ in evals]
    assert curves["validation loss"].yData.tolist() == pytest.approx([v for _, v in evals])
    assert h.detail.config_text.isReadOnly()
    assert h.detail.config_text.toPlainText() == slow.config_path.read_text(encoding="utf-8")
    assert "finished" in h.detail.title.text()


def test_resume_from_history_continues_the_stopped_run(window, qtbot, tiny_config):
    stopped = _stopped(tiny_config, "halted", at=5)
    h = window.history
    _refresh(qtbot, h)
    _select(qtbot, h, stopped)
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        h.resume_action.trigger()
    assert blocker.args == [str(stopped.path)]
    assert stopped.status() == "finished"
    starts = [e.start_step for e in read_events(stopped.events_path)
              if isinstance(e, RunStarted)]
    assert starts == [0, 6]
    assert [s for s, _ in _loss(stopped)] == list(range(1, 13))
    # the window refreshed the history when the run ended; the detail shows it finished
    _refreshed(qtbot, h)
    assert _table(h)["halted"]["Status"] == "finished"
    qtbot.waitUntil(lambda: "finished" in h.detail.title.text(), timeout=30000)


def test_new_run_from_config_trains_in_a_new_folder(window, qtbot, tiny_config, monkeypatch):
    old = _run(tiny_config, "original", learning_rate=5e-4)
    before = old.events_path.read_bytes()
    h = window.history
    _refresh(qtbot, h)
    _select(qtbot, h, old)
    monkeypatch.setattr(window, "ask_existing_run",
                        lambda out: pytest.fail(f"asked about {out}"))
    window.side_tabs.setCurrentWidget(h)
    h.new_run_action.trigger()
    cfg = window.model.config
    assert cfg.training.learning_rate == 5e-4 and cfg.model.source == \
        old.load_config().model.source
    assert cfg.training.output_dir == ""
    assert window.config_path is None   # Save asks for a name: the run's record stays as is
    assert str(old.config_path.resolve()) not in window.recent_files()
    assert window.side_tabs.currentWidget() is window.run_panel
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        window.train()
    new = RunDir(blocker.args[0])
    assert new.path != old.path and new.path.parent == default_runs_dir().resolve()
    assert new.status() == "finished" and old.events_path.read_bytes() == before
    _refreshed(qtbot, h)
    assert set(_table(h)) == {"original", new.path.name}


def test_delete_asks_then_moves_to_the_trash(window, qtbot, tiny_config, monkeypatch,
                                             tmp_path):
    (tmp_path / "xdg").mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))   # the test's own trash
    keep = _run(tiny_config, "keep")
    gone = _stopped(tiny_config, "unwanted")
    h = window.history
    _refresh(qtbot, h)
    with qtbot.waitSignal(window.run_panel.runsListed):
        window.run_panel.refresh_runs()
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.No if len(asked) == 1 else \
            QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    _select(qtbot, h, gone)
    window.last_run_dir = str(gone.path)   # the run the Train tab showed last
    h.delete_action.trigger()   # answered No: nothing happens
    assert gone.path.is_dir() and "unwanted" in asked[0]
    h.delete_action.trigger()
    assert len(asked) == 2 and "unwanted" in asked[1] and "trash" in asked[1]
    assert not gone.path.exists()
    trashed = tmp_path / "xdg" / "Trash" / "files" / "unwanted"
    assert (trashed / "events.jsonl").is_file()
    _refreshed(qtbot, h)
    assert set(_table(h)) == {"keep"} and keep.path.is_dir()

    def runs_list():
        return [window.run_panel.runs.itemData(i) for i in range(window.run_panel.runs.count())]

    qtbot.waitUntil(lambda: str(gone.path) not in runs_list() and str(keep.path) in runs_list())
    assert window.last_run_dir is None   # Open run folder no longer points at it

    # where there is no trash (some network drives), a second question before deleting
    monkeypatch.setattr("ftgui.gui.panels.history.QFile.moveToTrash", lambda path: False)
    _select(qtbot, h, keep)
    h.delete_action.trigger()
    assert len(asked) == 4 and "keep" in asked[3] and "permanently" in asked[3]
    assert not keep.path.exists() and not (trashed.parent / "keep").exists()
    _refreshed(qtbot, h)
    assert _table(h) == {} and not h.placeholder.isHidden()
    assert "No runs in" in h.placeholder.text()


def test_delete_is_refused_for_a_running_run(window, qtbot, monkeypatch):
    live = RunDir(default_runs_dir() / "live")
    live.path.mkdir(parents=True)
    (live.path / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    live.write_summary({"status": "running"})
    lock = RunLock(live.path)   # held, as the process that trains it holds it
    lock.acquire()
    warned = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: pytest.fail("asked to delete a running run")))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(
        lambda parent, title, text, *a: warned.append(text)))
    h = window.history
    _refresh(qtbot, h)
    _select(qtbot, h, live)
    assert _table(h)["live"]["Status"] == "running"
    assert not h.delete_action.isEnabled() and not h.resume_action.isEnabled()
    assert h.delete_selected() is False
    assert live.path.is_dir() and "live" in warned[0] and "stop it" in warned[0]
    lock.release()


def test_changing_the_runs_folder_lists_it_and_is_remembered(window, qtbot, tiny_config,
                                                             tmp_path, monkeypatch):
    _run(tiny_config, "first")
    other = tmp_path / "elsewhere"
    other.mkdir()
    h = window.history
    _refresh(qtbot, h)
    assert set(_table(h)) == {"first"}
    monkeypatch.setattr("ftgui.gui.panels.history.QFileDialog.getExistingDirectory",
                        lambda *a, **k: str(other))
    h.change_button.click()
    # the first folder's runs go at once, not when the other folder has been read
    assert _table(h) == {}
    _refreshed(qtbot, h)
    assert default_runs_dir() == other.resolve() and h.folder_label.text() == str(other)
    assert _table(h) == {} and not h.placeholder.isHidden() and h.table.isHidden()
    qtbot.waitUntil(lambda: window.run_panel.runs.currentData() is None)   # the list follows
    assert window.settings.value("runs_dir") == str(other)

    # the next start uses the saved folder when FTGUI_RUNS_DIR is not set
    from ftgui.gui.panels.history import HistoryPanel
    monkeypatch.delenv("FTGUI_RUNS_DIR")
    panel = HistoryPanel(window.settings)
    qtbot.addWidget(panel)
    assert panel.runs_dir() == other.resolve()


# ---- the list is read off the GUI thread; its layout is remembered ----------------------------
def _written_runs(tiny_config, root, names, steps=lambda i: 10 + i):
    """Run folders as a run writes them (its config.yaml, events.jsonl and summary.json),
    without training: enough of them to take the list a while to read."""
    raw = yaml.safe_load(tiny_config().to_yaml())
    for i, name in enumerate(names):
        rd = RunDir(Path(root) / name)
        rd.path.mkdir(parents=True)
        raw["training"].update(output_dir=str(rd.path), max_steps=steps(i))
        rd.config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        sink = JsonlSink(rd.events_path)
        sink(RunStarted(run_dir=str(rd.path), device="cpu", precision="fp32",
                        device_reason="no GPU", total_params=1000, trainable_params=1000,
                        total_steps=steps(i)))
        sink(StepLogged(step=1, total_steps=steps(i), epoch=0.1, loss=3.5,
                        learning_rate=1e-3, grad_norm=1.0, tokens_per_second=100.0,
                        elapsed=0.1, eta=1.0))
        rd.write_summary({"status": "finished", "steps": steps(i), "total_steps": steps(i),
                          "final_train_loss": 3.5, "duration_s": 1.0 + i,
                          "started_at": f"2026-01-01 00:{i // 60 % 60:02d}:{i % 60:02d}"})


def _panel(qtbot, settings):
    from ftgui.gui.panels.history import HistoryPanel
    panel = HistoryPanel(settings)
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    qtbot.waitExposed(panel)
    _refreshed(qtbot, panel)
    return panel


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_reading_many_runs_leaves_the_window_responsive(qtbot, tiny_config, settings):
    from PySide6.QtCore import QTimer

    root = default_runs_dir()
    names = [f"run-{i:03d}" for i in range(300)]
    _written_runs(tiny_config, root, names[:1])
    h = _panel(qtbot, settings)
    _select(qtbot, h, RunDir(root / names[0]))
    _written_runs(tiny_config, root, names[1:], steps=lambda i: 11 + i)

    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(1))
    arrived = []
    h.refreshed.connect(lambda: arrived.append(len(ticks)))
    timer.start()
    h.refresh()
    assert h.refreshing and not arrived   # refresh() does not wait for the folder
    qtbot.waitUntil(lambda: bool(arrived), timeout=30000)
    timer.stop()
    # the GUI thread kept turning while the 300 folders were read
    assert arrived[0] >= 3, f"the 10 ms timer fired {arrived[0]} times during the refresh"

    rows = _table(h)
    assert sorted(rows) == names
    assert rows["run-000"]["Steps"] == "10/10" and rows["run-299"]["Steps"] == "309/309"
    assert {r["Status"] for r in rows.values()} == {"finished"}
    assert h.selected_paths() == [str(RunDir(root / names[0]).path)]   # kept
    dates = [h.model.index(r, 8).data() for r in range(h.model.rowCount())]
    assert dates == sorted(dates, reverse=True)   # newest first, as before


def test_a_newer_refresh_drops_the_result_of_an_older_one(qtbot, tiny_config, settings,
                                                          tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _written_runs(tiny_config, first, [f"old-{i}" for i in range(100)])
    _written_runs(tiny_config, second, ["new-0", "new-1"])
    h = _panel(qtbot, settings)
    shown = []
    h.model.modelReset.connect(lambda: shown.append({r["name"] for r in h.model.rows}))
    results = []   # the folders whose reading reported back, in order
    real_scanned = h._scanned
    h._scanned = lambda gen, root, out: (results.append(root.name),
                                         real_scanned(gen, root, out))
    with qtbot.waitSignal(h.refreshed, timeout=30000):
        h.set_runs_dir(first)
        h.set_runs_dir(second)   # asked while the first folder is being read
    # the newer result is shown; the older one reported back first and was dropped
    assert results == ["first", "second"]
    assert not h.refreshing and set(_table(h)) == {"new-0", "new-1"}
    assert not any(names & {"old-0"} for names in shown), "the stale rows were shown"


def test_sort_order_and_splitter_are_remembered(qtbot, tiny_config, settings, tmp_path):
    from PySide6.QtCore import QPoint, QSettings

    _written_runs(tiny_config, default_runs_dir(), ["b", "a", "c"],
                  steps=lambda i: (30, 10, 20)[i])
    h = _panel(qtbot, settings)
    header = h.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == \
        (8, Qt.SortOrder.DescendingOrder)   # the default: newest first
    a = RunDir(default_runs_dir() / "a")
    _select(qtbot, h, a)
    steps = 4
    assert h.model.headerData(steps, Qt.Orientation.Horizontal) == "Steps"
    x = header.sectionViewportPosition(steps) + header.sectionSize(steps) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, header.height() // 2))
    order = header.sortIndicatorOrder()
    assert header.sortIndicatorSection() == steps
    # the selection follows its run to its new row
    assert h.selected_paths() == [str(a.path)]
    assert [i.data() for i in h.table.selectionModel().selectedRows()] == ["a"]
    # drag the handle between the list and the detail area down by 80 pixels
    before = h.splitter.sizes()
    handle = h.splitter.handle(1)
    grip = handle.rect().center()
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=grip)
    qtbot.mouseMove(handle, grip + QPoint(0, 80))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=grip + QPoint(0, 80))
    sizes = h.splitter.sizes()
    assert sizes[0] == before[0] + 80
    listed = [h.model.index(r, 0).data() for r in range(h.model.rowCount())]
    assert listed == (["a", "c", "b"] if order == Qt.SortOrder.AscendingOrder
                      else ["b", "c", "a"])

    # the next start: a new panel on the settings file as the last one left it
    h.close()
    again = _panel(qtbot, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    header = again.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (steps, order)
    assert again.splitter.sizes() == sizes
    assert [again.model.index(r, 0).data() for r in range(again.model.rowCount())] == listed


def test_a_runs_folder_that_cannot_be_read_says_why(qtbot, tiny_config, settings,
                                                    monkeypatch):
    import shutil

    root = default_runs_dir()
    _written_runs(tiny_config, root, ["kept", "other"])
    h = _panel(qtbot, settings)
    _select(qtbot, h, RunDir(root / "kept"))
    # the folder is replaced by a file (a drive mounted elsewhere, a mistake)
    shutil.rmtree(root)
    root.write_text("not a folder", encoding="utf-8")
    _refresh(qtbot, h)
    assert h.table.isHidden() and not h.placeholder.isHidden() and _table(h) == {}
    assert "Could not read the runs folder" in h.placeholder.text()
    assert str(root) in h.placeholder.text() and "is a file" in h.placeholder.text()
    assert not h.delete_action.isEnabled()

    # back as it was: Refresh lists it again, with the run that was selected
    root.unlink()
    _written_runs(tiny_config, root, ["kept", "other"])
    _refresh(qtbot, h)
    assert set(_table(h)) == {"kept", "other"} and h.placeholder.isHidden()
    assert h.selected_paths() == [str(RunDir(root / "kept").path)]

    # a bug while reading is a message too, not an exception out of a slot
    def broken(root):
        raise KeyError("summary")

    with monkeypatch.context() as m:
        m.setattr("ftgui.gui.panels.history.runs_table", broken)
        _refresh(qtbot, h)
    assert "KeyError" in h.placeholder.text() and h.table.isHidden()
    _refresh(qtbot, h)
    assert set(_table(h)) == {"kept", "other"}


def test_fail7_a_malformed_run_is_shown_unreadable_and_the_others_listed(window, qtbot,
                                                                          tiny_config):
    import json
    good = _run(tiny_config, "good", max_steps=2, save_steps=2)
    bad = RunDir(default_runs_dir() / "bad")
    bad.path.mkdir()
    (bad.path / "config.yaml").write_text("model: [1]\n", encoding="utf-8")
    (bad.path / "summary.json").write_text(json.dumps({"status": "finished",
                                                       "duration_s": "abc"}))
    h = window.history
    _refresh(qtbot, h)
    table = _table(h)
    assert table["good"]["Status"] == "finished"
    assert table["bad"]["Status"] == "unreadable"
    assert good.path.is_dir()
