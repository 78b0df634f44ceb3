"""The model a run trained in the window stays in memory: the Playground tries a finished
LoRA run without loading anything (the base is the same model, adapter off), Resume
trains on the loaded base, and choosing another model gives the memory back."""

import gc
import weakref


from ftgui.core import inference

PROMPT = "The tower"


def _held(live):
    with live.using(live.run_dir, "tuned") as pair:
        return weakref.ref(pair[0])


def test_a_lora_run_finished_in_the_window_is_tried_from_memory(qtbot, window, make_config,
                                                                tiny_model_dir, load_calls):
    assert window.load_config(make_config(model={"method": "lora"},
                                          training={"max_steps": 4, "eval_steps": 4,
                                                    "learning_rate": 5e-2}))
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        window.train()
    assert load_calls == [str(tiny_model_dir)]
    pg = window.playground
    assert pg.run_dir() == blocker.args[0] and window.live.status == "finished"

    pg.prompt.setPlainText(PROMPT)
    pg.max_tokens.setValue(8)
    pg.temperature.setValue(0.0)
    stages = []
    pg.paneLoading.connect(lambda pane, stage, *_: stages.append((pane, stage)))
    with qtbot.waitSignal(pg.generationFinished, timeout=120000):
        pg.generate_button.click()
    assert stages == [("tuned", "memory"), ("base", "memory")]
    assert load_calls == [str(tiny_model_dir)] and pg.cache.loads == 0   # nothing loaded
    assert pg.tuned_pane.text and "tokens/s" in pg.tuned_pane.stats.text()
    # the base side is the base exactly: the text a freshly loaded base writes
    base, tok = inference.load_for_generation(str(tiny_model_dir))
    assert pg.base_pane.text == inference.generate(base, tok, PROMPT, 8)

    held = _held(window.live)
    window.model.set("model.source", str(tiny_model_dir) + "/")   # another model chosen
    gc.collect()
    assert held() is None and window.live.run_dir is None


def test_resume_in_the_window_trains_on_the_loaded_base(qtbot, window, make_config,
                                                        load_calls):
    assert window.load_config(make_config(model={"method": "lora"},
                                          training={"max_steps": 12, "eval_steps": None,
                                                    "save_steps": 1000}))
    window.train()
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 3, timeout=120000)
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        window.stop()
    assert window.live.status == "stopped" and len(load_calls) == 1
    with qtbot.waitSignal(window.runFinished, timeout=120000):
        window._resume_dir(blocker.args[0])
    assert len(load_calls) == 1   # the base was not loaded again
    assert "reused from memory" in window.run_panel.log_pane.toPlainText()
    assert window.live.status == "finished"
