"""Stop at step k and resume: the same weights as a run that was never interrupted."""

import torch
from safetensors.torch import load_file

from ftgui.core.events import StepLogged, read_events
from ftgui.core.runner import resume_run, run_config
from ftgui.core.runs import RunDir


def _weights(run_dir):
    return load_file(RunDir(run_dir).model_dir / "model.safetensors")


def test_stop_then_resume_equals_uninterrupted(tiny_config, tmp_path):
    settings = {"max_steps": 16, "save_steps": 100, "logging_steps": 1}
    straight = tiny_config(training={**settings, "output_dir": str(tmp_path / "a")})
    run_config(straight)

    stopped = tiny_config(training={**settings, "output_dir": str(tmp_path / "b")})
    holder = []

    def stop_at_7(event):
        if isinstance(event, StepLogged) and event.step == 7:
            holder[0].request_stop()

    summary = run_config(stopped, [stop_at_7], runner_out=holder)
    assert summary["status"] == "stopped" and summary["steps"] == 8  # the step in flight completes
    run = RunDir(tmp_path / "b")
    assert run.latest_checkpoint().name == "checkpoint-8"
    assert not run.model_dir.exists()

    assert summary["tokens_processed"] == 8 * 4 * 32
    summary = resume_run(run.path)
    assert summary["status"] == "finished" and summary["steps"] == 16
    assert "perplexity_before" in summary and "perplexity_after" in summary
    # the counts go on from the checkpoint's: the same totals as the uninterrupted run
    straight_summary = RunDir(tmp_path / "a").summary()
    for key in ("tokens_processed", "tokens_trained"):
        assert summary[key] == straight_summary[key] == 16 * 4 * (32 - (key == "tokens_trained"))

    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6, msg=name)

    steps = [e.step for e in read_events(run.events_path) if e.kind == "step"]
    assert steps == list(range(1, 17))  # each step once, the curve continues where it stopped


def test_a_stopped_run_moved_elsewhere_resumes_there(tiny_config, tmp_path):
    """Runs are files: a run folder moved (another disk, another machine) still resumes,
    into the folder it is in now; the old place is not written again."""
    import shutil

    from ftgui.core.runs import list_runs

    old = tmp_path / "old" / "run"
    cfg = tiny_config(training={"max_steps": 12, "save_steps": 100, "logging_steps": 1,
                                "output_dir": str(old)})
    holder = []

    def stop_at_5(event):
        if isinstance(event, StepLogged) and event.step == 5:
            holder[0].request_stop()

    assert run_config(cfg, [stop_at_5], runner_out=holder)["status"] == "stopped"
    new = tmp_path / "elsewhere" / "run"
    new.parent.mkdir()
    shutil.move(str(old), str(new))
    shutil.rmtree(tmp_path / "old")

    assert [r.path for r in list_runs(new.parent)] == [new]
    summary = resume_run(new)
    assert summary["status"] == "finished" and summary["steps"] == 12
    assert not (tmp_path / "old").exists()
    assert (RunDir(new).model_dir / "model.safetensors").is_file()
    steps = [e.step for e in read_events(RunDir(new).events_path) if e.kind == "step"]
    assert steps == list(range(1, 13))
