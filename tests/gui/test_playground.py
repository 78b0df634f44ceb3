"""The Playground tab: streaming without blocking the window, Stop, errors, chat runs.

The runs are trained once per module through the core, on a tiny GPT-2 whose context is
long (2048) so that a generation can run long enough to be stopped mid-way.
"""

import shutil
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from ftgui.core import inference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROMPT = "The lobster"


def _train(base: Path, out: Path, **data) -> Path:
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config

    raw = {"model": {"source": str(base), "method": "full"},
           "data": {"source": str(FIXTURES / "wiki-small.txt"), "validation": None,
                    "block_size": 32, **data},
           "training": {"output_dir": str(out), "max_steps": 30, "batch_size": 4,
                        "learning_rate": 3e-3, "logging_steps": 10, "save_steps": 1000,
                        "seed": 7}}
    run_config(RunConfig.from_dict(raw))
    assert (out / "model").is_dir()
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A plain-text run and an instruction (chat-template) run of a long-context tiny model."""
    from tiny_model import make_tiny_model

    root = tmp_path_factory.mktemp("playground")
    with pytest.MonkeyPatch.context() as mp:   # the per-test folders are not set up yet
        mp.setenv("FTGUI_CACHE_DIR", str(root / "cache"))
        base = make_tiny_model(root / "tiny-long", n_positions=2048)
        text = _train(base, root / "text-run")
        chat = _train(base, root / "chat-run", source=str(FIXTURES / "instructions.jsonl"),
                      format="instruction", block_size=96)
    return {"base": base, "text": text, "chat": chat}


@pytest.fixture
def panel(qtbot):
    from ftgui.gui.panels.playground import PlaygroundPanel

    p = PlaygroundPanel()
    qtbot.addWidget(p)
    p.resize(1000, 600)
    p.show()
    yield p
    p.shutdown()


def _generate(qtbot, panel, timeout=120000):
    with qtbot.waitSignal(panel.generationFinished, timeout=timeout):
        panel.generate_button.click()


def _ready(panel, run, max_tokens: int, temperature: float = 0.0, prompt: str = PROMPT):
    assert panel.set_run(str(run))
    panel.prompt.setPlainText(prompt)
    panel.max_tokens.setValue(max_tokens)
    panel.temperature.setValue(temperature)


def _on_first_chunk(panel, action) -> list:
    """Call ``action`` when the first piece of text arrives; returns [its time]."""
    at = []

    def once(_pane, _text):
        if not at:
            at.append(time.perf_counter())
            action()
    panel.chunkStreamed.connect(once)
    return at


def _reference(source: str, prompt: str, n: int, **kw) -> str:
    model, tok = inference.load_for_generation(source)
    return inference.generate(model, tok, prompt, n, **kw)


def test_streams_both_panes_without_blocking(qtbot, panel, runs):
    _ready(panel, runs["text"], 300)
    assert panel.tuned_pane.title.text() == "Fine-tuned · text-run"
    assert panel.base_pane.title.text() == "Base model · tiny-long"
    assert not panel.chat.isChecked()

    chunks = {"base": [], "tuned": []}
    arrived = []
    panel.chunkStreamed.connect(lambda pane, text: (chunks[pane].append(text),
                                                    arrived.append(time.perf_counter())))
    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    _generate(qtbot, panel)
    elapsed = time.perf_counter() - t0
    timer.stop()

    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > elapsed / 0.010 / 10, (len(ticks), elapsed)
    assert max(gaps) < 1.0, max(gaps)
    # the window went on ticking while the text came (it would not, generating on its thread)
    assert any(arrived[0] < t < arrived[-1] for t in ticks)
    # text arrived piece by piece, and the pieces are the pane's text
    assert len(chunks["tuned"]) > 1 and len(chunks["base"]) > 1
    assert "".join(chunks["tuned"]) == panel.tuned_pane.text
    # greedy: the same text as the command line's generate on the same models
    assert panel.tuned_pane.text == _reference(str(runs["text"]), PROMPT, 300)
    assert panel.base_pane.text == _reference(str(runs["base"]), PROMPT, 300)
    assert panel.tuned_pane.text != panel.base_pane.text
    assert panel.tuned_pane.view.toPlainText() == PROMPT + panel.tuned_pane.text
    for pane in panel.panes.values():
        assert "tokens/s" in pane.stats.text()
    assert panel.generate_button.isEnabled() and not panel.stop_button.isEnabled()


def test_same_seed_same_text_and_models_stay_loaded(qtbot, panel, runs):
    loads = []
    loader = panel.cache._loader
    panel.cache._loader = lambda cfg: loads.append(cfg.source) or loader(cfg)
    _ready(panel, runs["text"], 40, 1.0)

    texts = []
    for seed in (5, 5, 6):
        panel.seed.setValue(seed)
        _generate(qtbot, panel)
        texts.append((panel.base_pane.text, panel.tuned_pane.text))
    assert texts[0] == texts[1]
    assert texts[2] != texts[0]
    assert len(loads) == 2   # a second Generate does not load the models again

    panel.set_run(str(runs["chat"]))   # a new run gives the old models' memory back
    assert len(panel.cache) == 0


def test_loading_shows_its_stages_and_progress(qtbot, panel, runs):
    """Not a bare "Loading…": tokenizer, then the model tensor by tensor (with the
    weights' size), then ready, in the pane's status line and bar; loaded once."""
    from safetensors import safe_open

    _ready(panel, runs["text"], 5)
    seen = {"base": [], "tuned": []}

    def record(pane, stage, done, total, detail):
        p = panel.panes[pane]
        seen[pane].append((stage, done, total, detail, p.stats.text(), p.loading.isVisible()))
    panel.paneLoading.connect(record)
    _generate(qtbot, panel)
    for pane, source in (("base", runs["base"]), ("tuned", runs["text"] / "model")):
        events = seen[pane]
        with safe_open(source / "model.safetensors", "pt") as f:
            n = len(list(f.keys()))
        assert [e[0] for e in events][:2] == ["tokenizer", "model"] and events[-1][0] == "ready"
        counts = [(d, t) for stage, d, t, *_ in events if stage == "model" and t]
        assert counts[0] == (0, n) and counts[-1] == (n, n)
        assert [d for d, _ in counts] == sorted(d for d, _ in counts)
        assert events[0][4].startswith("Loading ") and "tokenizer…" in events[0][4]
        mid = next(e for e in events if e[0] == "model" and e[2] and 0 < e[1] < n)
        assert f"model {mid[1]}/{n} tensors of " in mid[4] and " MB" in mid[4]
        assert "✓ tokenizer" in mid[4] and mid[5]   # the bar is up while it loads
        assert "✓ model" in events[-1][4] and not events[-1][5]
        assert "tokens/s" in panel.panes[pane].stats.text()   # then the result's line
    for pane in seen:
        seen[pane].clear()
    _generate(qtbot, panel)
    assert seen == {p: [("loaded", 1, 1, "", seen[p][0][4], False)] for p in seen}


def test_stop_ends_a_long_generation_and_keeps_the_text(qtbot, panel, runs):
    _ready(panel, runs["text"], 2000, 1.0)
    shown = []
    stopped_at = _on_first_chunk(panel, lambda: (panel.stop(),
                                                 shown.append(panel.stop_button.text())))
    _generate(qtbot, panel)
    assert shown == ["Stopping…"]
    assert time.perf_counter() - stopped_at[0] < 5.0
    tuned = panel.tuned_pane
    assert tuned.text, "the text written before Stop is kept"
    assert "stopped" in tuned.stats.text()
    assert int(tuned.stats.text().split()[0]) < 500
    assert panel.base_pane.stats.text() == "Stopped before it started."
    assert panel.generate_button.isEnabled() and not panel.stop_button.isEnabled()
    assert panel.stop_button.text() == "Stop"


def test_window_survives_generation_errors(qtbot, window, runs, tmp_path):
    pg = window.playground
    assert window.side_tabs.tabText(window.side_tabs.indexOf(pg)) == "Playground"
    broken = Path(shutil.copytree(runs["text"], tmp_path / "broken-run"))
    assert pg.set_run(str(broken))
    pg.prompt.setPlainText(PROMPT)
    pg.max_tokens.setValue(10)
    shutil.rmtree(broken / "model")   # deleted after it was chosen
    _generate(qtbot, pg)
    assert "has no final model yet" in pg.banner.text()
    assert "has no final model yet" in pg.tuned_pane.stats.text()

    shutil.copytree(runs["text"] / "model", broken / "model")
    (broken / "model" / "model.safetensors").write_bytes(b"not weights")
    _generate(qtbot, pg)
    assert "could not load the model" in pg.banner.text()
    assert "tokens/s" in pg.base_pane.stats.text()   # the base still answers

    pg.set_run(str(runs["text"]))
    pg.chat.setChecked(True)   # a plain-text run's tokenizer has no chat template
    _generate(qtbot, pg)
    assert "no chat template" in pg.banner.text()

    pg.chat.setChecked(False)
    _generate(qtbot, pg)
    assert pg.banner.text() == ""
    assert pg.tuned_pane.text and "tokens/s" in pg.tuned_pane.stats.text()
    assert window.isVisible() and not window.running

    assert not pg.set_run(str(tmp_path))
    assert "is not an ftgui run" in pg.banner.text()


def test_chat_run_wraps_the_prompt(qtbot, panel, runs):
    prompt = "Name the largest ocean."
    _ready(panel, runs["chat"], 30, prompt=prompt)
    assert panel.chat.isChecked()
    assert "chat template" in panel.chat.toolTip()
    _generate(qtbot, panel)
    wrapped = _reference(str(runs["chat"]), prompt, 30, chat=True)
    assert panel.tuned_pane.text == wrapped
    assert wrapped != _reference(str(runs["chat"]), prompt, 30)
    assert panel.tuned_pane.view.toPlainText() == wrapped   # no prompt shown: an answer

    # the base is given the same text: the run's (simple) template, its tokenizer has none
    from ftgui.core.sft import generation_prompt
    model, tok = inference.load_for_generation(str(runs["chat"]))
    rendered = generation_prompt(tok, prompt)
    assert rendered.startswith("### User:\n")
    base, base_tok = inference.load_for_generation(str(runs["base"]))
    assert not base_tok.chat_template
    ids = base_tok(rendered, return_tensors="pt", add_special_tokens=False)
    out = base.generate(**ids, max_new_tokens=30, do_sample=False,
                        pad_token_id=base_tok.pad_token_id)
    expected = base_tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert panel.base_pane.text == expected


def test_a_run_finished_in_the_window_is_ready_to_try(qtbot, window, make_config):
    assert window.load_config(make_config(training={"max_steps": 4, "eval_steps": 4}))
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        window.train()
    run_dir = blocker.args[0]
    assert window.playground.run_dir() == str(Path(run_dir).resolve())
    assert window.playground.generate_button.isEnabled()
    assert window.playground.tuned_pane.title.text() == f"Fine-tuned · {Path(run_dir).name}"


def test_changing_run_mid_generation_stops_it_and_drops_its_text(qtbot, panel, runs):
    _ready(panel, runs["text"], 2000, 1.0)
    _on_first_chunk(panel, lambda: panel.set_run(str(runs["chat"])))
    with qtbot.waitSignal(panel.generationFinished, timeout=20000):
        panel.generate_button.click()
    assert panel.tuned_pane.title.text() == "Fine-tuned · chat-run"
    assert panel.tuned_pane.view.toPlainText() == "" and panel.tuned_pane.text == ""
    assert panel.base_pane.stats.text().strip() == ""
    assert len(panel.cache) == 0   # the old run's models were let go
    assert panel.chat.isChecked() and panel.generate_button.isEnabled()


def test_a_failure_mid_generation_is_reported_and_the_next_generate_works(qtbot, panel, runs,
                                                                         caplog):
    """Out of memory mid-way cannot be caused here: the fine-tuned model's forward raises it
    after some tokens, as torch would."""
    loader = panel.cache._loader
    calls = []

    def load(cfg):
        model, tok = loader(cfg)
        if cfg.source.endswith("model"):   # the run's final model
            forward = model.forward

            def failing(*a, **kw):
                calls.append(1)
                if len(calls) == 40:
                    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
                return forward(*a, **kw)
            model.forward = failing
        return model, tok

    panel.cache._loader = load
    _ready(panel, runs["text"], 100)
    _generate(qtbot, panel)
    text = "Generation failed: RuntimeError: CUDA out of memory"
    assert panel.banner.text().startswith(text) and "the log" in panel.banner.text()
    assert panel.tuned_pane.stats.text().startswith(text)
    assert panel.tuned_pane.text, "the text written before the failure is kept"
    assert "generation failed" in caplog.text   # the traceback went to the log
    assert "tokens/s" in panel.base_pane.stats.text()   # the base still answered

    _generate(qtbot, panel)   # the same models, cached: this time it goes through
    assert panel.banner.text() == ""
    assert panel.tuned_pane.text == _reference(str(runs["text"]), PROMPT, 100)


def test_prompt_and_settings_are_there_again_at_the_next_start(qtbot, runs, tmp_path):
    from PySide6.QtCore import QSettings

    from ftgui.gui.panels.playground import EXAMPLE_PROMPT, PlaygroundPanel

    path = str(tmp_path / "settings.ini")

    def start():   # a new session: a new panel on the same settings file
        p = PlaygroundPanel(QSettings(path, QSettings.Format.IniFormat))
        qtbot.addWidget(p)
        return p

    first = start()
    assert (first.prompt.toPlainText(), first.max_tokens.value(), first.temperature.value(),
            first.top_p.value(), first.seed.value()) == (EXAMPLE_PROMPT, 100, 0.7, 0.9, 0)
    assert first.set_run(str(runs["text"])) and not first.chat.isChecked()
    prompt = "Once upon a time,\nin a = land [of] \"quotes\" ; and commas"
    first.prompt.setPlainText(prompt)
    first.max_tokens.setValue(37)
    first.temperature.setValue(1.25)
    first.top_p.setValue(0.55)
    first.seed.setValue(123456)
    first.chat.setChecked(True)   # against the plain-text run's default
    first.qsettings.sync()
    first.close()

    second = start()
    assert second.prompt.toPlainText() == prompt
    assert second.max_tokens.value() == 37
    assert second.temperature.value() == pytest.approx(1.25)
    assert second.top_p.value() == pytest.approx(0.55)
    assert second.seed.value() == 123456
    assert second.settings().top_p == pytest.approx(0.55)
    assert second.set_run(str(runs["text"])) and second.chat.isChecked()   # as left for it
    # the tick is the run's own: another run gets its default, and unticking that is kept
    assert second.set_run(str(runs["chat"])) and second.chat.isChecked()
    second.chat.setChecked(False)
    second.qsettings.sync()
    second.close()

    third = start()
    assert third.set_run(str(runs["chat"])) and not third.chat.isChecked()
    assert third.set_run(str(runs["text"])) and not third.chat.isChecked()

    # a hand-edited file with a bad value: that field keeps its default, the others load
    third.qsettings.setValue("playground/max_new_tokens", "lots")
    third.qsettings.sync()
    assert start().max_tokens.value() == 100 and start().seed.value() == 123456
    # a panel given no settings remembers nothing
    plain = PlaygroundPanel()
    qtbot.addWidget(plain)
    assert plain.prompt.toPlainText() == EXAMPLE_PROMPT and plain.max_tokens.value() == 100
