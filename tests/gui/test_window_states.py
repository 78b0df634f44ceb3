"""What the window shows stays true: statuses, stats, banners and actions after each change."""

from PySide6.QtWidgets import QMessageBox

from ftgui.core import model_cache


def test_clear_caches_action_asks_then_empties_the_cache(window, qtbot, monkeypatch):
    entry = model_cache.models_dir() / "some-model-0123"
    entry.mkdir(parents=True)
    (entry / "model.safetensors").write_bytes(b"x" * 4096)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a[1]) or QMessageBox.StandardButton.No))
    window.clear_caches_action.trigger()
    assert asked == ["Clear caches"] and entry.exists()

    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: QMessageBox.StandardButton.Yes))
    window.clear_caches_action.trigger()
    qtbot.waitUntil(lambda: "Caches cleared" in window.statusBar().currentMessage(),
                    timeout=10000)
    assert not entry.exists()
    assert window.clear_caches_action.isEnabled()
