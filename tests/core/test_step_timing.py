"""Step events time the steps themselves: a checkpoint write between two logs does not
lower tokens/s, and a resumed run's elapsed time goes on from its checkpoint's."""

import time

from transformers import Trainer

from ftgui.core.events import StepLogged, read_events
from ftgui.core.runner import resume_run, run_config
from ftgui.core.runs import RunDir

SAVE_PAUSE = 1.0


def test_checkpoint_write_is_not_counted_in_tokens_per_second(tiny_config, tmp_path,
                                                              monkeypatch):
    real = Trainer._save_checkpoint

    def slow_save(self, *a, **k):   # a checkpoint on a slow disk
        time.sleep(SAVE_PAUSE)
        return real(self, *a, **k)
    monkeypatch.setattr(Trainer, "_save_checkpoint", slow_save)
    cfg = tiny_config(training={"max_steps": 12, "save_steps": 6, "logging_steps": 1,
                                "eval_steps": None, "output_dir": str(tmp_path / "run")})
    run_config(cfg)
    steps = {e.step: e for e in read_events(RunDir(tmp_path / "run").events_path)
             if isinstance(e, StepLogged)}
    tokens_per_step = 4 * 32
    step_time = tokens_per_step / steps[7].tokens_per_second
    between_logs = steps[7].elapsed - steps[6].elapsed
    # the wall clock between the two logs holds the write; the step's own time does not
    assert between_logs >= SAVE_PAUSE
    assert step_time <= between_logs - 0.9 * SAVE_PAUSE

def test_resumed_run_elapsed_goes_on_from_the_checkpoint(tiny_config, tmp_path):
    cfg = tiny_config(training={"max_steps": 12, "save_steps": 100, "logging_steps": 1,
                                "output_dir": str(tmp_path / "run")})
    holder = []

    def stop_at_5(event):
        if isinstance(event, StepLogged) and event.step == 5:
            time.sleep(0.5)   # so that the elapsed time at the checkpoint is clearly above 0
            holder[0].request_stop()

    assert run_config(cfg, [stop_at_5], runner_out=holder)["status"] == "stopped"
    rd = RunDir(tmp_path / "run")
    before = [e for e in read_events(rd.events_path) if isinstance(e, StepLogged)]
    at_checkpoint = before[-1].elapsed
    assert before[-1].step == 6 and at_checkpoint >= 0.5
    resume_run(rd.path)
    after = [e for e in read_events(rd.events_path) if isinstance(e, StepLogged)]
    assert [e.step for e in after] == list(range(1, 13))
    resumed = after[6:]
    assert resumed[0].elapsed > at_checkpoint
    assert all(b.elapsed >= a.elapsed for a, b in zip(after, after[1:]))


def test_stages_of_starting_a_run_come_in_order_with_their_times(tiny_config, tmp_path):
    from ftgui.core.events import STAGES, Stage

    seen = []
    cfg = tiny_config(training={"max_steps": 4, "logging_steps": 2,
                                "output_dir": str(tmp_path / "run")})
    run_config(cfg, [seen.append])
    stages = [(e.stage, e.state) for e in seen if isinstance(e, Stage)]
    assert stages == [(s, state) for s in STAGES for state in ("started", "done")]
    done = [e for e in seen if isinstance(e, Stage) and e.state == "done"]
    assert all(e.seconds > 0 for e in done)
    # the first step is done just before the first step event, and the stages are not
    # part of the run's record
    first = next(i for i, e in enumerate(seen) if isinstance(e, StepLogged))
    assert seen[first - 1].stage == "first_step" and seen[first - 1].state == "done"
    assert not any(e.kind == "stage" for e in read_events(RunDir(tmp_path / "run").events_path))

    # without validation data the base evaluation is skipped, and said so
    seen.clear()
    cfg = tiny_config(data={"validation": None},
                      training={"max_steps": 2, "output_dir": str(tmp_path / "run2")})
    run_config(cfg, [seen.append])
    assert ("base_eval", "skipped") in [(e.stage, e.state) for e in seen
                                        if isinstance(e, Stage)]
