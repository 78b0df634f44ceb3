"""Render the main window offscreen in the middle of a real training run and save it.

    python scripts/screenshot.py [--config resources/demo/demo.yaml] [--out docs/screenshot.png]
                                 [--max-steps 120] [--shot-at 70] [--width 1440 --height 900]

Trains for real (the demo: LoRA on SmolLM2-135M over a WikiText excerpt, on the CPU if
that is all there is), waits until ``--shot-at`` steps are logged, grabs the window,
then stops the run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import shots


def main() -> int:
    ap = shots.parser(__doc__, out="screenshot.png", width=1440, height=900, timeout=1800)
    ap.add_argument("--config", default=str(shots.DEMO))
    ap.add_argument("--max-steps", type=int, default=120)
    ap.add_argument("--shot-at", type=int, default=70, help="logged steps before the shot")
    ap.add_argument("--scale", type=float, default=1.0, help="device pixel ratio")
    args = ap.parse_args()

    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    tmp = shots.offscreen()

    from ftgui.core.config import RunConfig

    win = shots.window(tmp, args.width, args.height)
    cfg = RunConfig.load(args.config)
    cfg.training.max_steps = args.max_steps
    cfg.training.logging_steps = 1
    cfg.training.eval_steps = max(args.max_steps // 8, 1)
    cfg.training.save_steps = 10_000
    win.set_config(cfg, Path(args.config).resolve())
    win.show()

    # let the model and data panels finish reading before training starts
    shots.wait(lambda: win.model_panel.info is not None and win.data_panel.preview is not None
               and win.data_panel.preview.stats is not None and win.device_choice is not None,
               300)
    win.tabs.setCurrentIndex(0)
    win.train()
    ok = shots.wait(lambda: len(win.plots.series["loss"].x) >= args.shot_at
                    or not win.running, args.timeout)
    if not ok or not win.running:
        print("the run ended or timed out before the shot:", win.banner.text(), file=sys.stderr)
        return 1
    win.plots.flush()
    shots.save(win, args.out, settle_s=0.3)
    print(f"at step {win.plots.series['loss'].x[-1]}")
    win.stop()
    shots.wait(lambda: not win.running, 300)
    return shots.finish(win)


if __name__ == "__main__":
    sys.exit(main())
