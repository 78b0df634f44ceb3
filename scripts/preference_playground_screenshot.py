"""Render the Playground after a DPO run in the window: a validation pair picked, its chosen
and rejected answers above the base's and the result's generations, with each model's
log-probability margin for the pair; and save it.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/preference_playground_screenshot.py \
        [--out docs/preference-playground.png] [--width 1024 --height 700]
        [--settings-pane --pane 470] [--steps 60]

Trains for real on the CPU: the tests' tiny GPT-2 (built from a config) first learns
(SFT, through the core) to answer synthetic prompts with one of two words at random
("12 Go low." → on or up), then, in the window (so the Playground uses the model still
in memory), DPO teaches it the chosen one ("on", not "up"). The picture shows the first
validation pair on which the base says the rejected word and the result the chosen one.
"""

from __future__ import annotations

import random
import sys

import shots
from preference_screenshot import dpo_config, pairs, train_in_window, write_jsonl


def main() -> int:
    ap = shots.parser(__doc__, out="preference-playground.png", width=1024, height=700,
                      timeout=900, pane=470)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--settings-pane", action="store_true",
                    help="open the settings pane beside the Playground (--pane wide)")
    args = ap.parse_args()
    tmp = shots.offscreen(own_cache=True)

    sys.path.insert(0, str(shots.ROOT / "tests"))
    from tiny_model import make_tiny_model

    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config

    rng = random.Random(0)
    sft_rows = [{"prompt": r["prompt"], "completion": rng.choice([r["chosen"], r["rejected"]])}
                for r in pairs(range(40))]
    print("training the base (SFT) …", flush=True)
    run_config(RunConfig.from_dict({
        "model": {"source": str(make_tiny_model(tmp / "tiny-gpt2")), "method": "full"},
        "data": {"source": write_jsonl(tmp / "sft.jsonl", sft_rows), "validation": None,
                 "block_size": 48},
        "training": {"output_dir": str(tmp / "base"), "max_steps": 40, "batch_size": 8,
                     "learning_rate": 1e-3, "logging_steps": 20, "save_steps": 1000,
                     "seed": 3}}))
    model = tmp / "base-tiny-gpt2"
    (tmp / "base" / "model").rename(model)
    cfg = dpo_config(tmp, model, args.steps, range(24), range(90, 95), logging_steps=5,
                     eval_steps=args.steps, seed=5)
    win = train_in_window(tmp, cfg, args)
    if win is None:
        return 1
    pg = win.playground
    win.side_tabs.setCurrentWidget(pg)
    if args.settings_pane:
        win.splitter.setSizes([args.pane, args.width - args.pane])
    if not shots.wait(lambda: pg.examples.isEnabled(), 120):
        print("no validation pairs:", pg.banner.text(), file=sys.stderr)
        return 1
    pg.max_tokens.setValue(1)   # the answers are one word; after it the model repeats
    pg.temperature.setValue(0.0)
    for i in range(1, pg.examples.count()):
        pg.examples.setCurrentIndex(i)
        ex = pg.example()
        shots.wait_signal(pg.generationFinished, pg.generate, args.timeout)
        if pg.generating or pg.banner.text():
            print("no text:", pg.banner.text() or "timed out", file=sys.stderr)
            pg.shutdown()
            return 1
        print(f"{ex.title()}: base {pg.base_pane.text!r}, fine-tuned {pg.tuned_pane.text!r}")
        if pg.base_pane.text.strip().startswith(ex.rejected[0]["content"]) and \
                pg.tuned_pane.text.strip().startswith(ex.chosen[0]["content"]):
            break
    shots.save(win, args.out)
    print(pg.scores.text())
    for name, pane in pg.panes.items():
        print(f"{name}: {pane.stats.text()}\n  {pane.text!r}")
    return shots.finish(win)


if __name__ == "__main__":
    sys.exit(main())
