"""Heavy imports off the GUI thread: torch's libraries preloaded with the GIL released,
the garbage collector paused during the imports and restored after."""

import subprocess
import sys
import textwrap

import pytest

from ftgui.gui import preload

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the preload is Linux-only")


def run_child(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


@linux_only
def test_preload_maps_libtorch_before_import_and_torch_then_works():
    out = run_child("""
        import sys
        from ftgui.gui.preload import preload_torch_libraries
        loaded = preload_torch_libraries()
        assert "torch" not in sys.modules, "the preload must not import torch"
        maps = open("/proc/self/maps").read()
        assert "libtorch_cpu.so" in loaded and "libtorch_cpu.so" in maps, loaded
        import torch
        assert float(torch.ones(3).sum()) == 3.0
        assert preload_torch_libraries() == []   # torch imported: nothing to do
        print("ok")
    """)
    assert out.strip() == "ok"


@linux_only
def test_heavy_imports_pause_the_collector_and_restore_it():
    out = run_child("""
        import gc, threading
        from ftgui.gui.workers import run_worker as worker
        passes = []
        gc.callbacks.append(lambda phase, info: passes.append(info["generation"]))
        t = threading.Thread(target=worker.heavy_imports)
        t.start(); t.join()
        # not one collection pass during the imports (with the collector on there are
        # hundreds, the full ones 0.1-0.4 s each with the GIL held)
        assert passes == [], passes[:10]
        assert gc.isenabled() and gc.get_freeze_count() > 100_000
        gc.collect(0)
        assert passes == [0, 0]   # on again afterwards (start and stop of one pass)
        import torch, transformers
        print("ok")
    """)
    assert out.strip() == "ok"
    out = run_child("""
        import gc
        from ftgui.gui.workers import run_worker as worker
        gc.disable()                     # an embedding app's choice is kept
        worker.heavy_imports()
        print(gc.isenabled())
    """)
    assert out.strip() == "False"


def test_bundle_and_other_platforms_are_left_alone(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert preload.torch_lib_dir() is None           # a bundle without torch/lib
    (tmp_path / "torch" / "lib").mkdir(parents=True)
    assert preload.torch_lib_dir() == tmp_path / "torch" / "lib"
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert preload.preload_torch_libraries() == []   # no libraries there: nothing loaded
    monkeypatch.setattr(sys, "platform", "darwin")
    assert preload.preload_torch_libraries() == []
