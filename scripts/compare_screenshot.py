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

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # run from a checkout without installing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "resources" / "demo" / "demo.yaml"))
    ap.add_argument("--lr", type=float, action="append", help="one run per value")
    ap.add_argument("--max-steps", type=int, default=30)
    ap.add_argument("--runs-dir", help="where the runs go (default: a temporary folder)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "compare.png"))
    ap.add_argument("--width", type=int, default=1320)
    ap.add_argument("--height", type=int, default=820)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    rates = args.lr or [1e-4, 3e-4, 1e-3]

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-shot-"))
    runs_dir = Path(args.runs_dir).resolve() if args.runs_dir else tmp / "runs"
    os.environ["FTGUI_RUNS_DIR"] = str(runs_dir)

    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config
    from ftgui.core.runs import RunDir

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

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.worker import wait_for_tasks

    app = QApplication([sys.argv[0]])
    app.setApplicationDisplayName("ftgui")
    win = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win.resize(args.width, args.height)
    win.load_config(args.config)
    win.show()
    win.tabs.setCurrentIndex(2)   # Training: the learning rate is what the runs differ in
    win.splitter.setSizes([420, args.width - 420])   # room for the table's columns
    win.history.splitter.setSizes([220, args.height - 220])   # three rows; a tall plot
    win.side_tabs.setCurrentWidget(win.history)
    history = win.history
    loop = QEventLoop()
    history.loaded.connect(loop.quit)
    QTimer.singleShot(int(args.timeout * 1000), loop.quit)
    history.select_paths(paths)
    loop.exec()
    if len(history.detail.runs) != len(paths):
        print("the runs did not load:", history.detail.title.text(), file=sys.stderr)
        return 1
    # the model panel reads the model meanwhile: wait for it so the shot shows its facts
    poll = QTimer(interval=100)
    settle = QEventLoop()
    poll.timeout.connect(lambda: win.model_panel.info is not None and settle.quit())
    poll.start()
    QTimer.singleShot(int(args.timeout * 1000), settle.quit)
    settle.exec()
    wait_for_tasks(int(args.timeout * 1000))
    last = QEventLoop()
    QTimer.singleShot(500, last.quit)  # let the last paint land
    last.exec()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out), "PNG")
    print(f"wrote {out}")
    app.closeAllWindows()
    wait_for_tasks(30000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
