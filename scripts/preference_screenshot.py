"""Render the Train tab after a DPO run (reward curves, result card) and save it.

    xvfb-run -s "-screen 0 1600x1000x24" python scripts/preference_screenshot.py \
        [--out docs/preference.png] [--steps 60]

Trains for real on the CPU: the tests' tiny GPT-2 (built from a config), on synthetic pairs
whose chosen and rejected answers differ in one word ("12 Go high." → up, not on), with
the validation pairs evaluated every few steps.
"""

from __future__ import annotations

import json
import sys

import shots


def main() -> int:
    ap = shots.parser(__doc__, out="preference.png", width=1440, height=1000, timeout=900)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    tmp = shots.offscreen(own_cache=True)

    sys.path.insert(0, str(shots.ROOT / "tests"))
    from tiny_model import make_tiny_model

    from ftgui.core.config import RunConfig

    def pairs(numbers):
        return [{"prompt": f"{i} Go {cue}.", "chosen": good, "rejected": bad}
                for i in numbers for cue, (good, bad) in
                {"high": ("up", "on"), "low": ("on", "up")}.items()]

    for name, rows in (("train.jsonl", pairs(range(40))), ("valid.jsonl", pairs(range(90, 96)))):
        (tmp / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = make_tiny_model(tmp / "tiny-gpt2")
    cfg = RunConfig.from_dict({
        "model": {"source": str(model), "method": "full"},
        "data": {"source": str(tmp / "train.jsonl"), "validation": str(tmp / "valid.jsonl"),
                 "block_size": 48},
        "training": {"objective": "dpo", "max_steps": args.steps, "batch_size": 8,
                     "logging_steps": 1, "eval_steps": max(args.steps // 10, 1),
                     "save_steps": 10_000, "learning_rate": 1e-3},
        "dpo": {"beta": 0.5}})
    win = shots.window(tmp, args.width, args.height)
    cfg.save(tmp / "dpo.yaml")
    win.set_config(cfg, tmp / "dpo.yaml")
    win.show()
    shots.wait(lambda: win.model_panel.info is not None and win.device_choice is not None, 120)
    win.tabs.setCurrentIndex(0)
    shots.wait_signal(win.runFinished, win.train, args.timeout)
    if win.running or not win.run_panel.result_card.isVisible():
        print("the run did not finish:", win.banner.label.text(),
              win.run_panel.log_pane.toPlainText()[-2000:], file=sys.stderr)
        return 1
    win.plots.flush()
    win.plots.auto_range()
    shots.save(win, args.out, settle_s=0.5)
    return shots.finish(win)


if __name__ == "__main__":
    sys.exit(main())
