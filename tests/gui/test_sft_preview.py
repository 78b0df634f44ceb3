"""The dataset preview of an instruction dataset: one rendered example with the trained-on
response highlighted, and the token-length histogram with block_size marked."""

import json
import re
from html import unescape
from pathlib import Path

import numpy as np

from ftgui.gui.widgets.sft_preview import render_html

INSTRUCTIONS = Path(__file__).resolve().parents[1] / "fixtures" / "instructions.jsonl"


def _runs(html: str, kind: str) -> str:
    return "".join(unescape(t) for t in
                   re.findall(rf'<span class="{kind}"[^>]*>(.*?)</span>', html, re.S))


def test_render_html_keeps_response_and_prompt_apart():
    html = render_html([("### User:\nWhy <b>?\n\n### Assistant:\n", False),
                        ("Because.<eos>", True), ("\n\n", False)], ["<eos>"])
    assert _runs(html, "response") == "Because.<eos>"
    assert "Why <b>?" in _runs(html, "prompt")
    assert "<b>" not in html.replace("&lt;b&gt;", "")   # escaped, not markup


def test_instruction_preview_highlights_the_response(window, make_config, qtbot):
    rows = [json.loads(line) for line in INSTRUCTIONS.read_text().splitlines() if line.strip()]
    block = 44
    assert window.load_config(make_config(data={
        "source": str(INSTRUCTIONS), "format": "instruction", "validation": None,
        "block_size": block}))
    panel = window.data_panel
    qtbot.waitUntil(lambda: panel.sft.sample is not None, timeout=60000)
    sft = panel.sft
    assert sft.isVisibleTo(panel)

    # example 1 is shown: its output inside the highlight, its instruction outside
    assert sft.example.value() == 1
    first = rows[0]
    response, prompt = _runs(sft.html, "response"), _runs(sft.html, "prompt")
    assert first["output"] in response
    assert first["instruction"] in prompt
    assert first["instruction"] not in response and first["output"] not in prompt
    assert "<|endoftext|>" in response        # EOS is trained on, and shown
    assert sft.text.toPlainText().count(first["output"]) == 1

    # browsing to another example re-renders it
    sft.example.setValue(3)
    assert rows[2]["output"] in _runs(sft.html, "response")
    assert rows[2]["input"] in _runs(sft.html, "prompt")

    # the histogram: one count per training example, the line at block_size
    assert int(sft.hist_counts.sum()) == len(rows) == sft.sample.total
    assert sft.block_line.value() == block
    over = int((sft.sample.lengths > block).sum())
    assert over > 0  # the fixture has examples longer than 44 tokens
    assert f"{over:,} longer than block_size" in sft.lengths_label.text()
    assert over == panel.preview.stats["train_truncated"]

    # changing block_size moves the line once the preview is recomputed
    window.fields["data.block_size"].editor.setValue(256)
    qtbot.waitUntil(lambda: sft.sample is not None and sft.sample.block_size == 256,
                    timeout=60000)
    assert sft.block_line.value() == 256
    assert "all fit" in sft.lengths_label.text()
    assert np.all(sft.sample.lengths <= 256)

    # back to plain text: no SFT preview
    window.fields["data.format"].editor.setCurrentText("text")
    qtbot.waitUntil(lambda: not sft.isVisibleTo(panel), timeout=60000)


def test_detected_format_counts_and_raise_block_size(window, make_config, qtbot):
    """Zero configuration: the tab says what was detected and ignored, counts kept / cut /
    dropped, and one click raises block_size so 95 % of the examples fit whole."""
    from PySide6.QtCore import Qt

    dolly = INSTRUCTIONS.parent / "formats" / "dolly.jsonl"
    assert window.load_config(make_config(data={"source": str(dolly), "validation": None,
                                                 "block_size": 72}))
    panel = window.data_panel
    assert window.model.config.data.format == "auto"
    qtbot.waitUntil(lambda: panel.sft.sample is not None and bool(panel.preview.stats),
                    timeout=60000)
    text = panel.stats.text()
    assert "Format: <b>instruction</b> (detected) · prompt = <b>instruction</b>, input = " \
           "<b>context</b>, response = <b>response</b>" in text
    assert "Ignored: category (an id or metadata column)" in text
    assert "Examples: 2 kept, 1 cut from the prompt side, 0 dropped" in text
    n = panel.preview.stats["train_block_size_95"]
    assert n > 72 and panel.raise_block.isVisibleTo(panel)
    assert panel.raise_block.text() == f"Raise block_size to {n} (keeps 95 % whole)"
    # the trained-on part of the cut example is its whole response
    assert "It started on 31 August 2000." in _runs(panel.sft.html, "response")
    qtbot.mouseClick(panel.raise_block, Qt.MouseButton.LeftButton)
    assert window.model.config.data.block_size == n
    qtbot.waitUntil(lambda: "Examples: 3 kept, 0 cut" in panel.stats.text(), timeout=60000)
    assert not panel.raise_block.isVisibleTo(panel)
