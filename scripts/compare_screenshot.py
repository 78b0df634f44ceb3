"""Train a few short runs that differ only in learning rate, then render the History tab
offscreen with them selected (overlaid loss curves, config differences) and save it.

    python scripts/compare_screenshot.py [--config resources/demo/demo.yaml]
        [--lr 1e-4 --lr 3e-4 --lr 1e-3] [--max-steps 30] [--runs-dir DIR]
        [--out docs/compare.png] [--width 1320 --height 820]

The runs are real (the demo: LoRA on SmolLM2-135M over a WikiText excerpt, on the CPU if
that is all there is). With ``--runs-dir`` an existing folder's runs of these names are
reused instead of trained again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import shots


def main() -> int:
    ap = shots.parser(__doc__, out="compare.png", width=1320, height=820, timeout=120)
    ap.add_argument("--config", default=str(shots.DEMO))
    ap.add_argument("--lr", type=float, action="append", help="one run per value")
    ap.add_argument("--max-steps", type=int, default=30)
    ap.add_argument("--runs-dir", help="where the runs go (default: a temporary folder)")
    args = ap.parse_args()
    rates = args.lr or [1e-4, 3e-4, 1e-3]

    tmp = shots.offscreen()
    runs_dir = Path(args.runs_dir).resolve() if args.runs_dir else tmp / "runs"
    os.environ["FTGUI_RUNS_DIR"] = str(runs_dir)

    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config
    from ftgui.core.runs import RunDir
    from ftgui.gui.workers.run_worker import wait_for_tasks

    paths = []
    for lr in rates:
        cfg = RunConfig.load(args.config)
        cfg.training.learning_rate = lr
        cfg.training.max_steps = args.max_steps
        cfg.training.eval_steps = max(args.max_steps // 3, 1)
        cfg.training.save_steps = args.max_steps
        cfg.training.output_dir = str(runs_dir / f"demo-lr{lr:g}")
        if RunDir(cfg.training.output_dir).status() != "finished":
            print(f"training {cfg.training.output_dir} ...", flush=True)
            run_config(cfg)
        paths.append(str(RunDir(cfg.training.output_dir).path))

    win = shots.window(tmp, args.width, args.height)
    win.load_config(args.config)
    win.show()
    win.tabs.setCurrentIndex(2)   # Training: the learning rate is what the runs differ in
    win.splitter.setSizes([420, args.width - 420])   # room for the table's columns
    win.history.splitter.setSizes([220, args.height - 220])   # three rows; a tall plot
    win.side_tabs.setCurrentWidget(win.history)
    history = win.history
    shots.wait(lambda: not history.refreshing, args.timeout)   # the list is read off-thread
    shots.wait_signal(history.loaded, lambda: history.select_paths(paths), args.timeout)
    if len(history.detail.runs) != len(paths):
        print("the runs did not load:", history.detail.title.text(), file=sys.stderr)
        return 1
    # the model panel reads the model meanwhile: wait for it so the shot shows its facts
    shots.wait(lambda: win.model_panel.info is not None, args.timeout)
    wait_for_tasks(int(args.timeout * 1000))
    shots.save(win, args.out)
    return shots.finish(win, 30000)


if __name__ == "__main__":
    raise SystemExit(main())
