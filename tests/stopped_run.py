"""A tiny run stopped after step 4 with a complete checkpoint there (resume and fault tests)."""

from ftgui.core.events import StepLogged
from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir


def stopped_run(tiny_config, **training) -> RunDir:
    cfg = tiny_config(training={"max_steps": 8, "save_steps": 2, "logging_steps": 1,
                                "save_total_limit": None, **training})
    holder = []

    def stop_at_3(event):  # the step in flight completes: stopped at 4
        if isinstance(event, StepLogged) and event.step == 3:
            holder[0].request_stop()

    assert run_config(cfg, [stop_at_3], runner_out=holder)["status"] == "stopped"
    run = RunDir(cfg.training.output_dir)
    assert run.latest_checkpoint().name == "checkpoint-4"
    return run
