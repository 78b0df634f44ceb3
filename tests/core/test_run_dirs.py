"""Where a new run goes: a folder of its own, never one holding something else."""

import pytest

from ftgui.core import runs
from ftgui.core.errors import RunDirError
from ftgui.core.runs import RunDir, choose_run_dir, default_runs_dir


def test_auto_named_runs_started_in_the_same_second_get_their_own_folders(tiny_config,
                                                                         monkeypatch):
    monkeypatch.setattr(runs, "auto_name", lambda source: "tiny-20261128-101010")
    cfg = tiny_config(training={"output_dir": ""})
    first = choose_run_dir(cfg)
    assert first == default_runs_dir() / "tiny-20261128-101010"
    first.mkdir(parents=True)
    (first / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    assert RunDir(first).is_run()
    second = choose_run_dir(cfg)   # no error about a setting the person never set
    assert second.name == "tiny-20261128-101010-2"
    second.mkdir()   # made, not yet a run: still not reused
    assert choose_run_dir(cfg).name == "tiny-20261128-101010-3"


def test_a_chosen_folder_holding_a_run_is_refused_unless_new_run(tiny_config):
    cfg = tiny_config()
    out = RunDir(cfg.training.output_dir)
    out.path.mkdir(parents=True)
    out.config_path.write_text("model: {}\n", encoding="utf-8")
    with pytest.raises(RunDirError, match="training.output_dir: .* already holds a run"):
        choose_run_dir(cfg)
    assert choose_run_dir(cfg, new_run=True) == out.path.with_name(out.path.name + "-2")


def test_a_run_deleted_while_the_runs_folder_is_read_is_skipped(tmp_path, monkeypatch):
    for name in ("kept", "gone"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    real_is_run = RunDir.is_run

    def is_run_then_vanish(self):   # the History tab's read races a Delete
        found = real_is_run(self)
        if self.path.name == "gone":
            (self.path / "config.yaml").unlink()
            self.path.rmdir()
        return found

    monkeypatch.setattr(RunDir, "is_run", is_run_then_vanish)
    assert [r.path.name for r in runs.list_runs(tmp_path)] == ["kept"]
