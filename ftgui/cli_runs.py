"""Commands on finished runs: export, runs, compare.

Wired into ``ftgui.cli`` by ``add_parsers(subparsers)`` and ``COMMANDS``; each command returns
an exit code and raises ``FtguiError`` for mistakes in the input (the CLI maps those to 2).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ftgui.core.errors import FtguiError


def add_parsers(sub) -> None:
    from ftgui.core.export import DESCRIPTIONS, FORMATS
    from ftgui.core.export.quantize import TYPES

    x = sub.add_parser("export", help="export a finished run: merged model, LoRA adapter, "
                       "GGUF file or a standalone training script")
    x.add_argument("run_dir", help="the run's folder")
    x.add_argument("--format", dest="fmt", required=True, choices=FORMATS,
                   help="; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()))
    x.add_argument("--out", default=None,
                   help="where to write it: a folder (merged, adapter), a .gguf file or a "
                        ".py file; it must not exist unless --force. Needed unless --push")
    x.add_argument("--force", action="store_true", help="replace --out if it exists, and "
                   "with --push the files of an existing Hub repo")
    x.add_argument("--push", metavar="ORG/NAME", default=None,
                   help="merged, adapter: upload the export with its model card to this "
                        "Hugging Face Hub repo (created if missing; sign in first)")
    x.add_argument("--private", action="store_true", help="with --push: create the repo "
                   "private")
    x.add_argument("--outtype", default="f16", choices=tuple(TYPES),
                   help="GGUF and Ollama: number format of the weight matrices (default f16); "
                   + "; ".join(f"{k}: {v[2]}" for k, v in TYPES.items()))
    x.add_argument("--no-check", action="store_true",
                   help="GGUF and Ollama: skip reading the file back to compare its validation "
                        "perplexity with the float32 model's")

    r = sub.add_parser("runs", help="list the runs in the runs folder as a table")
    r.add_argument("--dir", default=None,
                   help="runs folder (default: $FTGUI_RUNS_DIR or the user data folder)")

    c = sub.add_parser("compare", help="overlay the loss curves of runs in a PNG and print "
                       "their config differences")
    c.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders")
    c.add_argument("--out", default=None,
                   help="PNG file for the curves (default: compare.png in the current folder)")
    c.add_argument("--force", action="store_true", help="replace --out if it exists")


def _export(args) -> int:
    from ftgui.core.export import export

    open_line = [False]

    def show(p) -> None:
        if p.total:
            print(f"\r{p.stage}: {p.current}/{p.total}", end="", file=sys.stderr, flush=True)
            open_line[0] = p.current < p.total
            if not open_line[0]:
                print(file=sys.stderr)

    if args.push:
        return _export_push(args, show, open_line)
    if not args.out:
        raise FtguiError("--out: say where to write the export (or --push ORG/NAME to "
                         "upload it to the Hub).")
    try:
        out = export(args.run_dir, args.fmt, args.out, overwrite=args.force, progress=show,
                     gguf_type=args.outtype, loss_plot=_loss_plot)
    finally:
        if open_line[0]:  # an error message starts a line of its own
            print(file=sys.stderr)
    gguf_file = out if args.fmt == "gguf" else \
        next(out.glob("*.gguf"), None) if args.fmt == "ollama" else None
    hint = {"merged": f"load it with AutoModelForCausalLM.from_pretrained('{out}')",
            "adapter": f"load it with peft.PeftModel.from_pretrained(base_model, '{out}')",
            "gguf": f"run it with llama.cpp: llama-cli -m {out}",
            "ollama": f"make it an Ollama model: ollama create "
                      f"{gguf_file.stem if gguf_file else 'NAME'} -f {out / 'Modelfile'}",
            "script": f"run it with: python {out}"}[args.fmt]
    print(f"Exported {args.fmt} to {out}\n{hint}")
    if args.fmt in ("gguf", "ollama") and not args.no_check:
        print(_gguf_check(args.run_dir, gguf_file, args.outtype, show))
    return 0


def _export_push(args, show, open_line) -> int:
    """export --push: refuse before writing anything, export (to --out, or a temporary
    folder), upload with progress."""
    import tempfile

    from ftgui.core.export import default_name, export
    from ftgui.core.export.push import push, preflight
    from ftgui.core.hub import progress_text

    if args.fmt not in ("merged", "adapter"):
        raise FtguiError(f"--push: only the merged and adapter formats go to the Hub, not "
                         f"{args.fmt}.")
    preflight(args.push, args.force)

    def shown(p) -> None:
        if p.unit == "bytes":
            print(f"\r{p.stage}: {progress_text(p)}\033[K" if sys.stderr.isatty()
                  else f"{p.stage}: {progress_text(p)}", end="" if sys.stderr.isatty()
                  else "\n", file=sys.stderr, flush=True)
            open_line[0] = sys.stderr.isatty()
        else:
            show(p)
    with tempfile.TemporaryDirectory(prefix="ftgui-push-") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / default_name(args.run_dir, args.fmt)
        try:
            export(args.run_dir, args.fmt, out, overwrite=args.force, progress=show,
                   loss_plot=_loss_plot)
            url = push(out, args.push, private=args.private, force=args.force,
                       message=f"Upload {args.fmt} of the ftgui run {Path(args.run_dir).name}",
                       progress=shown)
        finally:
            if open_line[0]:
                print(file=sys.stderr)
    print(f"Pushed {args.fmt} to {url}" + (f" (kept in {out})" if args.out else ""))
    return 0


def _loss_plot(run_dir, out) -> None:
    """A model card's loss curve, drawn as `ftgui compare --out` draws it."""
    from ftgui.gui.compare_png import write_run_loss_png   # PySide6 is a dependency already
    write_run_loss_png(run_dir, out)


def _gguf_check(run_dir, out, outtype: str, show) -> str:
    from ftgui.core.export.gguf_check import check_line

    return check_line(outtype, run_dir, out, progress=show)


def _runs(args) -> int:
    from pathlib import Path

    from ftgui.core.history import format_table, runs_table
    from ftgui.core.runs import default_runs_dir

    root = Path(args.dir).expanduser() if args.dir else default_runs_dir()
    if args.dir and not root.is_dir():
        raise FtguiError(f"--dir: {root} is not a folder. Give the folder that holds your runs.")
    rows = runs_table(root)
    if not rows:
        print(f"No runs in {root}.")
        return 0
    print(format_table(rows))
    print(f"\n{len(rows)} run{'s' if len(rows) != 1 else ''} in {root}")
    for r in rows:
        if r["status"] == "unreadable":
            print(f"{r['name']} is unreadable: {r['error']}", file=sys.stderr)
    return 0


def _compare(args) -> int:
    from pathlib import Path

    from ftgui.core.compare import config_differences, format_differences, load_runs

    if len(args.run_dirs) < 2:
        raise FtguiError("compare: give at least two run folders.")
    out = Path(args.out or "compare.png").expanduser().resolve()
    if out.exists() and not args.force:
        raise FtguiError(f"{out} already exists. Choose another --out, or pass --force to "
                         f"replace it. Nothing was written.")
    runs = load_runs(args.run_dirs)
    print(format_differences(runs, config_differences(runs)))
    from ftgui.gui.compare_png import write_loss_png   # PySide6 is a dependency already
    write_loss_png(runs, out)
    print(f"\nLoss curves written to {out}")
    return 0


COMMANDS = {"export": _export, "runs": _runs, "compare": _compare}
