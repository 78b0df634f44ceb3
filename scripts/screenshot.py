"""Render the main window offscreen in the middle of a real training run and save it.

    python scripts/screenshot.py [--config resources/demo/demo.yaml] [--out docs/screenshot.png]
                                 [--max-steps 120] [--shot-at 70] [--width 1440 --height 900]

Trains for real (the demo: LoRA on SmolLM2-135M over a WikiText excerpt, on the CPU if
that is all there is), waits until ``--shot-at`` steps are logged, grabs the window,
then stops the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "resources" / "demo" / "demo.yaml"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    ap.add_argument("--max-steps", type=int, default=120)
    ap.add_argument("--shot-at", type=int, default=70, help="logged steps before the shot")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--scale", type=float, default=1.0, help="device pixel ratio")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-shot-"))
    os.environ.setdefault("FTGUI_RUNS_DIR", str(tmp / "runs"))

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ftgui.core.config import RunConfig
    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.worker import wait_for_tasks

    app = QApplication([sys.argv[0]])
    app.setApplicationDisplayName("ftgui")
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(args.width, args.height)
    cfg = RunConfig.load(args.config)
    cfg.training.max_steps = args.max_steps
    cfg.training.logging_steps = 1
    cfg.training.eval_steps = max(args.max_steps // 8, 1)
    cfg.training.save_steps = 10_000
    win.set_config(cfg, Path(args.config).resolve())
    win.show()

    def wait(cond, timeout_s):
        loop = QEventLoop()
        timer = QTimer(interval=100)
        timer.timeout.connect(lambda: cond() and loop.quit())
        timer.start()
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        timer.stop()
        return cond()

    # let the model and data panels finish reading before training starts
    wait(lambda: win.model_panel.info is not None and win.data_panel.preview is not None
         and win.data_panel.preview.stats is not None and win.device_choice is not None, 300)
    win.tabs.setCurrentIndex(0)
    win.train()
    ok = wait(lambda: len(win.plots.series["loss"].x) >= args.shot_at
              or not win.running, args.timeout)
    if not ok or not win.running:
        print("the run ended or timed out before the shot:", win.banner.text(), file=sys.stderr)
        return 1
    win.plots.flush()
    wait(lambda: False, 0.3)  # let the last paint land
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out), "PNG")
    print(f"wrote {out} at step {win.plots.series['loss'].x[-1]}")
    win.stop()
    wait(lambda: not win.running, 300)
    wait_for_tasks(10000)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
