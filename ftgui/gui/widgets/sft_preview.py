"""The supervised fine-tuning part of the dataset preview: one example rendered with the
model's template, the trained-on (response) part highlighted, and a histogram of the
examples' token lengths with ``data.block_size`` marked.

What is shown is computed in the core (core/sft_sample.py) on a worker thread;
``SftPreview`` is the widget.
"""

from __future__ import annotations

import html
import re
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QTextBrowser,
                               QVBoxLayout, QWidget)

from ftgui.core.sft_sample import SftSample

PROMPT_STYLE = "color:#6b7280;"
RESPONSE_STYLE = "background-color:#c9f2d9;color:#064e3b;"
SPECIAL_STYLE = "color:#7c3aed;font-weight:600;"
BAR_OK = (59, 130, 246, 200)
BAR_CUT = (239, 68, 68, 210)


def render_html(pieces: list[tuple[str, bool]], specials: list[str] = ()) -> str:
    """HTML of one example: prompt runs greyed, response runs on a green background,
    special tokens in bold violet. Every run is its own (never nested) span with class
    ``prompt`` or ``response``."""
    split = re.compile("(" + "|".join(map(re.escape, specials)) + ")") if specials else None
    out = []
    for text, is_response in pieces:
        kind = "response" if is_response else "prompt"
        style = RESPONSE_STYLE if is_response else PROMPT_STYLE
        parts = split.split(text) if split else [text]
        for i, part in enumerate(parts):
            if not part:
                continue
            special = split is not None and i % 2 == 1
            out.append(f'<span class="{kind}" style="{style}'
                       f'{SPECIAL_STYLE if special else ""}">{html.escape(part, quote=False)}'
                       f"</span>")
    return ('<pre style="white-space:pre-wrap;font-family:monospace;margin:0;">'
            + "".join(out) + "</pre>")


class SftPreview(QWidget):
    """Rendered example with the trained-on part highlighted, and the length histogram."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.sample: SftSample | None = None
        self.html = ""
        self.hist_counts = np.zeros(0, np.int64)
        self.hist_edges = np.zeros(0)

        self.example = QSpinBox(objectName="sftExample")
        self.example.setMinimum(1)
        self.example.setToolTip("Which training example to show")
        self.example.valueChanged.connect(self._show_example)
        self.caption = QLabel(objectName="sftCaption")
        self.caption.setWordWrap(True)
        legend = QLabel(f'<span style="{PROMPT_STYLE}">prompt (not trained on)</span> · '
                        f'<span style="{RESPONSE_STYLE}">&nbsp;response (trained on)&nbsp;'
                        f'</span> · <span style="{SPECIAL_STYLE}">special tokens</span>')
        legend.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Example"))
        top.addWidget(self.example)
        top.addWidget(self.caption, 1)

        self.text = QTextBrowser(objectName="sftRendered")
        self.text.setOpenLinks(False)
        self.text.setMinimumHeight(150)
        self.text.setMaximumHeight(320)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self.plot = pg.PlotWidget(objectName="lengthHistogram")
        self.plot.setBackground(None)
        self.plot.setMinimumHeight(170)
        self.plot.setMaximumHeight(230)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "tokens per example")
        self.plot.setLabel("left", "examples")
        self.bars_ok = pg.BarGraphItem(x0=[], x1=[], height=[], brush=pg.mkBrush(BAR_OK),
                                       pen=pg.mkPen((255, 255, 255), width=1))
        self.bars_cut = pg.BarGraphItem(x0=[], x1=[], height=[], brush=pg.mkBrush(BAR_CUT),
                                        pen=pg.mkPen((255, 255, 255), width=1))
        self.plot.addItem(self.bars_ok)
        self.plot.addItem(self.bars_cut)
        self.block_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen((220, 38, 38), width=2, style=Qt.DashLine),
            label="block_size {value:.0f} ",
            labelOpts={"position": 0.9, "color": (220, 38, 38), "anchors": [(1, 0), (1, 0)]})
        self.plot.addItem(self.block_line)
        self.lengths_label = QLabel(objectName="sftLengths")
        self.lengths_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addWidget(legend)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.plot)
        layout.addWidget(self.lengths_label)

    def clear(self) -> None:
        self.sample = None
        self.html = ""
        self.text.clear()
        self.hist_counts = np.zeros(0, np.int64)
        self.bars_ok.setOpts(x0=[], x1=[], height=[])
        self.bars_cut.setOpts(x0=[], x1=[], height=[])
        self.setVisible(False)

    def set_sample(self, s: SftSample | None) -> None:
        if s is None or not s.examples:
            self.clear()
            return
        self.sample = s
        self.example.blockSignals(True)
        self.example.setMaximum(len(s.examples))
        self.example.setValue(min(self.example.value(), len(s.examples)))
        self.example.blockSignals(False)
        self._show_example(self.example.value())
        self._show_histogram(s)
        self.setVisible(True)

    def _show_example(self, n: int) -> None:
        s = self.sample
        if s is None or not 1 <= n <= len(s.examples):
            return
        self.html = render_html(s.examples[n - 1], s.specials)
        self.text.setHtml(self.html)
        more = f" (the first {len(s.examples)} can be shown)" if s.total > len(s.examples) else ""
        tokens = f" · {int(s.lengths[n - 1])} tokens" if n <= len(s.lengths) else ""
        self.caption.setText(f"of {s.total:,}{more}{tokens} · {s.template}")

    def _show_histogram(self, s: SftSample) -> None:
        lengths = s.lengths
        hi = max(int(lengths.max()), s.block_size) + 1
        lo = min(int(lengths.min()), s.block_size)
        width = max(1, int(np.ceil((hi - lo) / 40)))
        lo = (lo // width) * width
        edges = np.arange(lo, hi + width, width, dtype=float)
        counts, edges = np.histogram(lengths, bins=edges)
        self.hist_counts, self.hist_edges = counts, edges
        cut = edges[:-1] >= s.block_size   # bins wholly past the block
        for item, mask in ((self.bars_ok, ~cut), (self.bars_cut, cut)):
            item.setOpts(x0=edges[:-1][mask], x1=edges[1:][mask], height=counts[mask])
        self.block_line.setValue(s.block_size)
        self.plot.setXRange(edges[0], edges[-1], padding=0.03)
        self.plot.setYRange(0, max(int(counts.max()), 1) * 1.15, padding=0)
        measured = (f"the first {len(lengths):,} of {s.total:,} examples"
                    if len(lengths) < s.total else f"{len(lengths):,} examples")
        over = s.over
        if over:
            fate = "truncated to" if s.truncate else "refused (truncation is off) at"
            tail = (f"; <b style='color:#dc2626'>{over:,} longer than block_size and "
                    f"{fate} {s.block_size} tokens</b>")
        else:
            tail = f"; all fit in block_size = {s.block_size}"
        self.lengths_label.setText(
            f"Token lengths of {measured}: median {int(np.median(lengths))}, "
            f"longest {int(lengths.max())}{tail}.")
