"""The packaged app's entry point (PyInstaller runs this file): frozen-safe start-up,
then the window, `--self-test`, or any `ftgui` command."""

from __future__ import annotations

import multiprocessing
import os
import sys


def _streams() -> None:
    # A windowed app has no console: sys.stdout / sys.stderr are None, and transformers'
    # logging (and print) would crash on them. Send them to a log file instead.
    if sys.stdout is not None and sys.stderr is not None:
        return
    from ftgui.paths import log_dir
    log = open(log_dir() / "ftgui-app.log", "a", encoding="utf-8",
               buffering=1)
    if sys.stdout is None:
        sys.stdout = log
    if sys.stderr is None:
        sys.stderr = log


def _user_dirs() -> None:
    """Downloads and runs go under the platform's user folders, never into the bundle."""
    import platformdirs
    os.environ.setdefault("HF_HOME", os.path.join(platformdirs.user_cache_dir("ftgui"), "hf"))
    os.environ.setdefault("FTGUI_RUNS_DIR",
                          os.path.join(platformdirs.user_data_dir("ftgui"), "runs"))


def main() -> int:
    multiprocessing.freeze_support()
    _streams()
    _user_dirs()
    argv = sys.argv[1:]
    if sys.platform == "win32":
        from ftgui.cli import opens_window
        if opens_window(argv):  # OpenMP reads its settings when torch loads it
            from ftgui.threads import use_window_policy
            use_window_policy()
        import torch  # noqa: F401 - torch's DLLs must load before Qt's on Windows
    if "--self-test" in argv:
        from ftgui.selftest import run
        return run()
    from ftgui.cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
