"""The Hub in the window, against the loopback Hub (tests/hub_server.py): the model
field's size-up and completion, a gated id's message, and a download as a run stage
with its progress bar and Cancel while the window keeps ticking."""

import time

import yaml

from PySide6.QtCore import Qt, QTimer

from hub_fixtures import BIG_ID, GATED_ID, MODEL_ID, add_big_model, hub  # noqa: F401

SECOND_ID = "tiny-org/second"


# `hub` before `window`: the server outlives the window's last background look-ups
def test_model_field_sizes_up_a_hub_id(hub, window, qtbot, make_config):
    assert window.load_config(make_config())
    panel = window.model_panel
    window.model.set("model.source", MODEL_ID)
    qtbot.waitUntil(lambda: panel.hub_info.isVisible() and "download" in panel.hub_info.text(),
                    timeout=30000)
    text = panel.hub_info.text()
    assert "public" in text and "license apache-2.0" in text
    assert "GPT2LMHeadModel" not in text, "the Architecture row shows it; not twice"
    # the config came from the cache the size-up filled: architecture and memory follow
    qtbot.waitUntil(lambda: panel.info is not None, timeout=60000)
    assert "GPT2LMHeadModel" in panel.arch.text() and "≈" in panel.memory.text()
    # the field completes from what was sized up and what is cached
    assert MODEL_ID in panel._completer.model().stringList()

    window.model.set("model.source", GATED_ID)
    qtbot.waitUntil(lambda: "is gated" in window.model.problems().get("model.source", ""),
                    timeout=30000)
    assert f"{hub.url}/{GATED_ID}" in window.model.problems()["model.source"]
    assert "gated (manual)" in panel.hub_info.text() and "llama3.2" in panel.hub_info.text()


def test_download_stage_progress_cancel_and_retry_without_blocking(hub, window, qtbot,
                                                                   make_config,
                                                                   tiny_model_dir):
    add_big_model(hub, tiny_model_dir)
    hub.rate = 8 * 1024 * 1024           # the 24 MB shard takes ~3 s
    assert window.load_config(make_config(model={"source": BIG_ID, "method": "full"},
                                          training={"max_steps": 2}))
    rp = window.run_panel
    ticks, formats = [], []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: (ticks.append(time.perf_counter()),
                                   formats.append(rp.progress.format())))

    def in_shard():
        return "model-00002" in rp.stats.text() and rp.progress.value() > 0

    qtbot.waitUntil(lambda: rp.train_button.isEnabled(), timeout=30000)
    qtbot.mouseClick(rp.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Cancel download" in rp.stop_button.text(), timeout=60000)
    timer.start()
    qtbot.waitUntil(in_shard, timeout=30000)
    assert "MB/s" in rp.stats.text() and " left" in rp.stats.text()
    assert rp.progress.format().startswith("Downloading ") and " MB of " in rp.progress.format()
    assert "download" in rp.stages.text()
    with qtbot.waitSignal(window.runFailed, timeout=30000) as failed:
        qtbot.mouseClick(rp.stop_button, Qt.MouseButton.LeftButton)
    timer.stop()
    assert "cancelled" in failed.args[0] and "kept in the cache" in failed.args[0]
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 20 and max(gaps) < 1.0, (len(ticks), max(gaps))
    # the bar moved while the window ticked (huggingface_hub reports every 10 MB)
    assert len({f for f in formats if f.startswith("Downloading")}) >= 2, set(formats)

    hub.rate = None                        # the retry fetches the rest and trains
    with qtbot.waitSignal(window.runFinished, timeout=120000):
        qtbot.mouseClick(rp.train_button, Qt.MouseButton.LeftButton)
    assert "✓ download" in rp.stages.text()


def test_cache_dialog_lists_and_deletes_a_revision(hub, window, qtbot, capsys,
                                                    tiny_model_dir):
    from ftgui.cli import main
    from ftgui.core import hub as hubmod
    hubmod.download(MODEL_ID)
    hub.add(SECOND_ID, tiny_model_dir)
    hubmod.size_up(SECOND_ID)                 # a second repo: its config only
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert MODEL_ID in out and SECOND_ID in out and "ftgui's cache" in out

    dialog = window.show_hub_dialog("CacheDialog")
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 2, timeout=30000)
    repos = [dialog.table.item(i, 1).text() for i in range(2)]
    assert repos[0] == MODEL_ID                # largest first
    assert "ago" in dialog.table.item(0, 5).text() or "just now" in dialog.table.item(0, 5).text()
    assert str(hubmod.cache_dir()) in dialog.folder.text() and "GGUF" in dialog.own.text()
    dialog.table.selectRow(0)
    dialog.confirm = lambda text: MODEL_ID in text
    with qtbot.waitSignal(dialog.ready, timeout=30000):
        qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=30000)
    assert dialog.table.item(0, 1).text() == SECOND_ID
    assert hubmod.local_copy(MODEL_ID) is None
    # the CLI: an unknown revision is one line and exit 2; a repo id deletes its revisions
    assert main(["cache", "--delete", "nosuchrepo/x"]) == 2
    assert "not in the Hugging Face cache" in capsys.readouterr().err
    assert main(["cache", "--delete", SECOND_ID]) == 0
    assert not hubmod.cached_repo_ids()


def test_sign_in_dialog_checks_the_token(hub, window, qtbot, monkeypatch):
    dialog = window.show_hub_dialog("SignInDialog")
    qtbot.waitUntil(lambda: "Not signed in" in dialog.status.text(), timeout=30000)
    dialog.token.setText("tok-revoked")
    with qtbot.waitSignal(dialog.ready, timeout=30000):
        qtbot.mouseClick(dialog.sign_in, Qt.MouseButton.LeftButton)
    assert "refused your token (401)" in dialog.status.text()
    from huggingface_hub import get_token
    assert get_token() is None                  # nothing stored for a refused token
    monkeypatch.setenv("HF_TOKEN", "tok-accepted")
    dialog = window.show_hub_dialog("SignInDialog")
    qtbot.waitUntil(lambda: "Signed in as" in dialog.status.text(), timeout=30000)
    assert "alice" in dialog.status.text()


def test_export_dialog_pushes_with_progress_and_asks_before_replacing(hub, qtbot, tiny_config,
                                                                      tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from ftgui.core.runner import run_config
    from ftgui.gui.dialogs.export_dialog import CHECKING, ExportDialog
    cfg = tiny_config(model={"method": "lora"},
                      training={"max_steps": 2, "save_steps": 100,
                                "output_dir": str(tmp_path / "run")})
    run_config(cfg)
    monkeypatch.setenv("HF_TOKEN", "tok-accepted")
    dialog = ExportDialog(tmp_path / "run", QSettings(str(tmp_path / "s.ini"),
                                                      QSettings.Format.IniFormat))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: CHECKING not in dialog.reasons.values(), timeout=30000)
    dialog.format_buttons["adapter"].setChecked(True)
    dialog.push_repo.setText("alice/from-window")
    formats = []
    dialog.progress.valueChanged.connect(lambda _: formats.append(dialog.progress.format()))
    with qtbot.waitSignal(dialog.pushed, timeout=120000) as done:
        qtbot.mouseClick(dialog.push_button, Qt.MouseButton.LeftButton)
    assert done.args[0] == f"{hub.url}/alice/from-window"
    repo = hub.repos[("model", "alice/from-window")]
    assert "README.md" in repo.files and "adapter_model.safetensors" in repo.files
    assert any(f.startswith("Uploading to alice/from-window: ") for f in formats)
    # pushing again asks first; No leaves the repo as it was
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: (asked.append(a[2]),
                                                             QMessageBox.StandardButton.No)[1])
    qtbot.mouseClick(dialog.push_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Nothing was pushed" in dialog.message.text(), timeout=30000)
    assert "already holds" in asked[0] and len(repo.messages) == 1


def test_dataset_field_shows_configs_and_splits_from_the_hub(hub, window, qtbot, make_config):
    card = {"license": "cc-by-sa-3.0", "configs": [
        {"config_name": "raw", "data_files": [{"split": "train", "path": "raw/train.jsonl"},
                                              {"split": "validation",
                                               "path": "raw/valid.jsonl"}]}]}
    readme = ("---\n" + yaml.safe_dump({"configs": card["configs"]}) + "---\n").encode()
    rows = b"".join(b'{"text": "row %d of the wiki"}\n' % i for i in range(40))
    hub.add("tiny-org/wiki", files={"raw/train.jsonl": rows, "raw/valid.jsonl": b"".join(rows.splitlines(True)[:3]),
                                    "README.md": readme}, kind="dataset", card=card)
    assert window.load_config(make_config(data={"config": "raw"}))
    panel = window.data_panel
    streamed = []   # the stats line each time rows were shown

    def shown():
        streamed.append(panel.stats.text())
    panel.table.model().modelReset.connect(shown)
    window.model.set("data.source", "tiny-org/wiki")
    qtbot.waitUntil(lambda: not panel.hub_info.isHidden(), timeout=30000)
    assert "config raw: train, validation" in panel.hub_info.text()
    split = panel.fields["data.split"].editor
    assert split.completer().model().stringList() == ["train", "validation"]
    assert panel.fields["data.config"].editor.completer().model().stringList() == ["raw"]
    # and datasets.load_dataset reads it from the same server: the preview's rows
    qtbot.waitUntil(lambda: "rows" in panel.stats.text() and "streamed" not in
                    panel.stats.text() and panel.table.rowCount() > 0, timeout=60000)
    assert "row 0 of the wiki" in panel.table.item(0, 0).text()
    # the streamed rows came first, then the full read's preview replaced them
    assert any("streamed from the Hub" in t for t in streamed), streamed
    panel.table.model().modelReset.disconnect(shown)
    # a dataset that is not there: the field says so, in the Hub's words for datasets
    window.model.set("data.source", "tiny-org/no-data")
    qtbot.waitUntil(lambda: "no dataset 'tiny-org/no-data'"
                    in window.model.problems().get("data.source", ""), timeout=30000)
