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
from pathlib import Path

import shots


def pairs(numbers) -> list[dict]:
    """Synthetic pairs differing in one word: "12 Go high." → up, not on (low: on, not up)."""
    return [{"prompt": f"{i} Go {cue}.", "chosen": good, "rejected": bad}
            for i in numbers for cue, (good, bad) in
            {"high": ("up", "on"), "low": ("on", "up")}.items()]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def dpo_config(tmp: Path, model, steps: int, train, valid, **training):
    """A full-fine-tuning DPO run of ``model`` on pairs(train), validated on pairs(valid)."""
    from ftgui.core.config import RunConfig

    return RunConfig.from_dict({
        "model": {"source": str(model), "method": "full"},
        "data": {"source": write_jsonl(tmp / "train.jsonl", pairs(train)),
                 "validation": write_jsonl(tmp / "valid.jsonl", pairs(valid)),
                 "block_size": 48},
        "training": {"objective": "dpo", "max_steps": steps, "batch_size": 8,
                     "save_steps": 10_000, "learning_rate": 1e-3, **training},
        "dpo": {"beta": 0.5}})


def train_in_window(tmp: Path, cfg, args):
    """The window, ``cfg`` trained in it to the end; None (and why, on stderr) if not."""
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
        return None
    return win


def main() -> int:
    ap = shots.parser(__doc__, out="preference.png", width=1440, height=1000, timeout=900)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    tmp = shots.offscreen(own_cache=True)

    sys.path.insert(0, str(shots.ROOT / "tests"))
    from tiny_model import make_tiny_model

    cfg = dpo_config(tmp, make_tiny_model(tmp / "tiny-gpt2"), args.steps, range(40),
                     range(90, 96), logging_steps=1, eval_steps=max(args.steps // 10, 1))
    win = train_in_window(tmp, cfg, args)
    if win is None:
        return 1
    win.plots.flush()
    win.plots.auto_range()
    shots.save(win, args.out, settle_s=0.5)
    return shots.finish(win)

if __name__ == "__main__":
    sys.exit(main())
