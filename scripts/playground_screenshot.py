"""Render the window offscreen on its Playground tab, with the base model and the
fine-tuned one having answered the same prompt, and save it.

Without --run it first trains a short run of the offline demo (SmolLM2-135M-Instruct +
LoRA on the WikiText excerpt; --steps of it) through the core.

    python scripts/playground_screenshot.py [--run RUN_DIR] [--steps 40]
        [--prompt "The European lobster"] [--max-new-tokens 150] [--temperature 0.7]
        [--seed 0] [--out docs/playground.png] [--width 1320 --height 820 --pane 470]
"""

from __future__ import annotations

import sys
from pathlib import Path

import shots


def train_demo(out: Path, steps: int) -> Path:
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config

    cfg = RunConfig.load(shots.DEMO)
    cfg.training.output_dir = str(out)
    cfg.training.max_steps = steps
    cfg.training.eval_steps = cfg.training.save_steps = steps
    print(f"training {steps} demo steps into {out} …", flush=True)
    run_config(cfg)
    return out


def main() -> int:
    ap = shots.parser(__doc__, out="playground.png", width=1320, height=820, timeout=600,
                      pane=470)
    ap.add_argument("--run", help="an existing finished run (default: train the demo)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--prompt", default="The European lobster")
    ap.add_argument("--max-new-tokens", type=int, default=150)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    tmp = shots.offscreen(own_cache=True)
    run = Path(args.run) if args.run else train_demo(tmp / "runs" / "demo-lobster",
                                                     args.steps)

    from ftgui.core.runs import RunDir

    win = shots.window(tmp, args.width, args.height)
    win.set_config(RunDir(run).load_config())   # the left side shows the run's settings
    win.show()
    win.splitter.setSizes([args.pane, args.width - args.pane])
    pg = win.playground
    win.side_tabs.setCurrentWidget(pg)
    if not pg.set_run(str(run)):
        print(pg.banner.text(), file=sys.stderr)
        return 1
    pg.prompt.setPlainText(args.prompt)
    pg.max_tokens.setValue(args.max_new_tokens)
    pg.temperature.setValue(args.temperature)
    pg.seed.setValue(args.seed)

    shots.wait_signal(pg.generationFinished, pg.generate, args.timeout)
    if pg.generating or not (pg.base_pane.text and pg.tuned_pane.text):
        print("no text:", pg.banner.text() or "timed out", file=sys.stderr)
        pg.shutdown()
        return 1
    shots.save(win, args.out)
    for name, pane in pg.panes.items():
        print(f"{name}: {pane.stats.text()}\n  {pane.text!r}")
    return shots.finish(win)


if __name__ == "__main__":
    sys.exit(main())
