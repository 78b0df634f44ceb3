"""Render the export dialog offscreen for a finished run, GGUF chosen and the precision list
open (each number format with the expected file size), and save it.

    python scripts/export_dialog_screenshot.py --run RUN_DIR [--out docs/export-dialog.png]

RUN_DIR is any finished run (bench/gguf_quality.py leaves a SmolLM2-135M one in the bench
work folder).
"""

from __future__ import annotations

import sys

import shots


def main() -> int:
    ap = shots.parser(__doc__, out="export-dialog.png", width=640, height=560, timeout=60)
    ap.add_argument("--run", required=True)
    args = ap.parse_args()
    tmp = shots.offscreen()

    from PySide6.QtCore import QPoint, QSettings
    from PySide6.QtGui import QPainter, QPixmap
    from PySide6.QtWidgets import QApplication

    from ftgui.gui.dialogs.export_dialog import CHECKING, ExportDialog

    app = QApplication([sys.argv[0]])
    app.setApplicationDisplayName("ftgui")
    dialog = ExportDialog(args.run, QSettings(str(tmp / "settings.ini"),
                                              QSettings.Format.IniFormat))
    dialog.resize(args.width, args.height)
    dialog.show()
    shots.wait(lambda: CHECKING not in dialog.reasons.values(), args.timeout)
    dialog.format_buttons["gguf"].setChecked(True)
    combo = dialog.gguf_type
    combo.setCurrentIndex(combo.findData("q8_0"))
    shots.wait(lambda: False, 0.5)
    combo.showPopup()
    popup = combo.view().window()
    shots.wait(lambda: popup.isVisible(), 5)
    shots.wait(lambda: False, 0.5)
    # the popup is a window of its own: paint it over the dialog where it opened
    base = dialog.grab()
    over = popup.grab()
    at = popup.mapToGlobal(QPoint(0, 0)) - dialog.mapToGlobal(QPoint(0, 0))
    canvas = QPixmap(max(base.width(), at.x() + over.width()),
                     max(base.height(), at.y() + over.height()))
    canvas.fill(dialog.palette().window().color())
    painter = QPainter(canvas)
    painter.drawPixmap(0, 0, base)
    painter.drawPixmap(at, over)
    painter.end()
    canvas.save(args.out, "PNG")
    print(f"wrote {args.out}")
    combo.hidePopup()
    dialog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
