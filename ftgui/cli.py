"""The `ftgui` command: the window by default, or train / resume / eval / generate.

Exit status: 0 success (finished, or stopped on request: Ctrl-C, SIGTERM, SIGUSR1);
2 a user error (one line on stderr says what to do); 3 the run diverged (its loss became
infinite or NaN: a result of the settings, see the message); 1 a bug (the traceback goes
to a log file whose path is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback

from ftgui.core.errors import FtguiError

EXIT_DIVERGED = 3
# signals that mean "stop soon" (SIGTERM from Slurm, systemd, docker, Kubernetes; SIGUSR1
# from Slurm's --signal=USR1@N warning before pre-emption): handled like Stop
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1")
                     if hasattr(signal, name))


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="ftgui", description="Local fine-tuning of causal language models. With no "
        "command, opens the window.")
    ap.add_argument("--self-test", action="store_true",
                    help="open the window offscreen, train a tiny model for a few steps "
                         "and report whether everything works")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("gui", help="open the window (the default)")
    g.add_argument("config", nargs="?", help="config file to load")

    t = sub.add_parser("train", help="train from a YAML config")
    t.add_argument("config", nargs="?", help="YAML config file (see README)")
    t.add_argument("--demo", action="store_true",
                   help="run the bundled offline demo (SmolLM2-135M + LoRA on WikiText)")
    t.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override one config value; repeatable")
    t.add_argument("--new-run", action="store_true",
                   help="if output_dir already holds a run, start a new one beside it "
                        "(DIR-2, DIR-3, ...) instead of refusing")
    t.add_argument("--resume-if-exists", action="store_true",
                   help="if output_dir already holds a run of this config, resume it (a "
                        "requeued job continues; a finished one exits 0) instead of refusing")
    t.add_argument("--launched", action="store_true", help=argparse.SUPPRESS)

    r = sub.add_parser("resume", help="continue a stopped run from its newest checkpoint")
    r.add_argument("run_dir")
    r.add_argument("--trust-remote-code", action="store_true",
                   help="the run's config turns on model.trust_remote_code: approve that "
                        "model's code on this machine (remembered)")
    r.add_argument("--launched", action="store_true", help=argparse.SUPPRESS)

    e = sub.add_parser("eval", help="perplexity of a model or run on a text file")
    e.add_argument("model", help="model source (Hub id, folder, .gguf) or a run folder")
    e.add_argument("--data", required=True, help="text / JSONL / CSV / Parquet file")
    e.add_argument("--block-size", type=int, default=None)
    e.add_argument("--batch-size", type=int, default=8)
    _loading_switches(e)
    e.add_argument("--before-after", action="store_true",
                   help="MODEL is a finished run: measure its base model and its result, "
                        "and keep both perplexities in the run's summary.json")

    gen = sub.add_parser("generate", help="continue a prompt with a model or run")
    gen.add_argument("model", help="model source (Hub id, folder, .gguf) or a run folder")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--max-new-tokens", type=int, default=50)
    gen.add_argument("--temperature", type=float, default=0.0,
                     help="0 (the default) is greedy decoding")
    gen.add_argument("--top-p", type=float, default=1.0)
    _loading_switches(gen)
    gen.add_argument("--seed", type=int, default=0)
    from ftgui import cli_data, cli_runs
    cli_runs.add_parsers(sub)
    d = sub.add_parser("doctor", help="what to know about this machine before a long run: "
                       "Python, torch build, GPUs, Qt, free disk, Hugging Face cache and Hub")
    d.add_argument("--json", action="store_true", help="print the report as JSON (for a "
                   "bug report)")
    cli_data.add_parser(sub)
    k = sub.add_parser("cache", help="list the Hugging Face cache (models and datasets, "
                       "each revision with size and last use) and ftgui's own caches "
                       "(dequantised GGUF models, tokenized data); --delete and --clear "
                       "free them")
    k.add_argument("--clear", action="store_true", help="delete ftgui's cached models and "
                   "data (not Hub downloads)")
    k.add_argument("--delete", nargs="+", metavar="REV", help="delete these Hugging Face "
                   "cache revisions: commit hashes (6+ characters) or repo ids (all their "
                   "revisions)")

    gen.add_argument("--chat", action="store_true",
                     help="send the prompt as a user turn through the chat template (the "
                          "default for runs trained on instruction or chat data)")
    return ap


def opens_window(argv: list[str]) -> bool:
    """Whether these arguments open the window (or the self-test's offscreen one)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit:
        return False
    return bool(args.self_test) or args.command in (None, "gui")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.self_test:
        from ftgui.selftest import run
        return run()
    if args.command in (None, "gui"):
        from ftgui.gui.app import main as gui_main
        return gui_main([args.config] if getattr(args, "config", None) else [])
    if args.command in TORCH_COMMANDS and not getattr(args, "launched", False):
        # (a process torchrun started has its launcher's environment: the same choice)
        from ftgui.threads import use_cli_policy
        use_cli_policy(say=_THREADS_NOTE.append)   # said once the config is checked
    try:
        return _commands()[args.command](args)
    except _Done:
        return 0
    except FtguiError as e:
        if os.environ.get("RANK", "0") == "0":  # one line, not one per process
            print(f"ftgui: error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ftgui: aborted.", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: keep the traceback for the report
        from ftgui.paths import crash_log_path
        path = crash_log_path()
        path.write_text(traceback.format_exc(), encoding="utf-8")
        print(f"ftgui: internal error: {type(e).__name__}: {e}\n"
              f"The full traceback is in {path}; please include it in a bug report.",
              file=sys.stderr)
        return 1


def _loading_switches(p) -> None:
    # a run folder's own model.trust_remote_code counts only for code approved here
    p.add_argument("--trust-remote-code", action="store_true", default=None,
                   help="run the Python code a model repository ships (only for one you "
                        "trust); for a run folder whose config turns it on, approves its "
                        "code on this machine (remembered)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="load .bin / .pt weights (pickle can run code; safetensors cannot)")


def _train(args) -> int:
    from ftgui.core.config import RunConfig
    from ftgui.core.errors import ConfigError

    if args.demo:
        from ftgui.paths import demo_config_path
        path = demo_config_path()
    elif args.config:
        path = args.config
    else:
        raise ConfigError("give a config file (ftgui train run.yaml) or --demo.")
    cfg = RunConfig.load(path)
    if args.overrides:
        cfg = cfg.with_overrides(args.overrides)
    if args.resume_if_exists and not args.launched:
        existing = _existing_run(cfg)
        if existing is not None:
            # the user's own config turning on remote code approves it, as for a new run
            return _resume(argparse.Namespace(
                run_dir=str(existing), launched=False,
                trust_remote_code=cfg.model.trust_remote_code))
    if _launch_needed(cfg, args):
        from ftgui.core.launch import Launch
        return _launch(Launch(cfg, new_run=args.new_run))
    from ftgui.core.startup import import_training_libraries
    import_training_libraries()  # seconds of imports: after the config is checked
    from ftgui.core.runner import Runner
    return _run(lambda sinks: Runner(cfg, sinks, new_run=args.new_run,
                                     launched=args.launched))


def _existing_run(cfg):
    """For --resume-if-exists: the run in output_dir to continue, None when there is none
    (a new run starts); a finished one ends the command (exit 0); one of other settings
    is refused."""
    from ftgui.core.errors import ConfigError
    from ftgui.core.runs import RunDir, check_resume_config

    if not cfg.training.output_dir:
        raise ConfigError("training.output_dir: --resume-if-exists needs a fixed run folder; "
                          "set output_dir so a requeued job finds its run.",
                          field="training.output_dir")
    rd = RunDir(cfg.training.output_dir)
    if not rd.is_run():
        return None
    check_resume_config(rd.path, cfg, against=rd.load_config().to_dict())
    if rd.status() == "finished":
        print(f"{rd.path} already finished; nothing to resume.")
        raise _Done()
    print(f"Resuming the run in {rd.path} (--resume-if-exists).", file=sys.stderr)
    return rd.path


class _Done(Exception):
    """The command has nothing left to do (exit 0)."""


def _resume(args) -> int:
    from ftgui.core.runs import RunDir

    if not args.launched:
        rd = RunDir(args.run_dir)
        cfg = rd.load_config()
        if cfg.model.trust_remote_code:  # code turned on by a run folder: approved here?
            from ftgui.core import trust
            trust.require([cfg.model.source], str(rd.config_path), args.trust_remote_code)
        if _launch_needed(cfg, args):
            from ftgui.core.launch import Launch
            return _launch(Launch(cfg, resume_dir=args.run_dir))
    from ftgui.core.startup import import_training_libraries
    import_training_libraries()
    from ftgui.core.runner import Runner
    return _run(lambda sinks: Runner.resume(args.run_dir, sinks, launched=args.launched,
                                            trust_remote_code=args.trust_remote_code))


def _launch_needed(cfg, args) -> bool:
    from ftgui.core.launch import needs_launch
    return not args.launched and needs_launch(cfg)


def _run(make_runner) -> int:
    """Run with a console sink; the first Ctrl-C stops cleanly after the current step."""
    from ftgui.console import ConsoleSink
    from ftgui.core.runner import drive

    runner = make_runner([ConsoleSink()])
    _say_threads()

    def on_sigint(signum, frame):
        if not runner.stop_event.is_set():
            runner.request_stop()
            print("\nStopping after this step and saving a checkpoint "
                  "(Ctrl-C again to abort without saving)...", file=sys.stderr)
        else:
            raise KeyboardInterrupt

    def on_term(signum, frame):
        # Slurm, systemd, docker stop, Kubernetes: finish the step, checkpoint, exit 0
        if not runner.stop_event.is_set():
            runner.request_stop()
            print(f"\n{signal.Signals(signum).name}: stopping after this step and saving a "
                  f"checkpoint...", file=sys.stderr)

    with _handlers(on_sigint, on_term):
        summary = drive(runner)
    return EXIT_DIVERGED if summary.get("status") == "diverged" else 0


@contextlib.contextmanager
def _handlers(on_sigint, on_term):
    """SIGINT to on_sigint, the STOP_SIGNALS to on_term, for the block; restored after."""
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, on_sigint)}
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, on_term)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _launch(launch) -> int:
    """Start the processes and follow them; Ctrl-C (or SIGINT from the window) asks every
    process to checkpoint and stop, a second one ends them at once."""
    def on_sigint(signum, frame):
        if not launch.run.stop_path.exists():
            launch.stop()
            print("\nStopping all processes after this step and saving a checkpoint "
                  "(Ctrl-C again to abort without saving)...", file=sys.stderr)
        else:
            launch.kill()

    def on_term(signum, frame):
        # forwarded to every process through RUN/STOP: each stops after the same step
        if not launch.run.stop_path.exists():
            launch.stop()
            print(f"\n{signal.Signals(signum).name}: stopping all processes after this "
                  f"step and saving a checkpoint...", file=sys.stderr)

    try:
        with _handlers(on_sigint, on_term):
            proc = launch.start()
            while True:
                try:
                    rc = proc.wait()
                    break
                except KeyboardInterrupt:
                    continue
    finally:
        launch.release()
    return launch.finish(rc)


def _eval(args) -> int:
    from ftgui.console import ConsoleSink
    from ftgui.core.inference import check_eval_sizes, model_config_for, perplexity

    check_eval_sizes(args.block_size, args.batch_size)  # before any model is loaded
    _say_threads()

    if args.before_after:
        from ftgui.core.evaluate import evaluate_run, perplexity_text
        res = evaluate_run(args.model, args.data, args.block_size, args.batch_size,
                           ConsoleSink(), args.trust_remote_code)
        print(f"perplexity base -> result: "
              f"{perplexity_text(res['perplexity_before'], res['perplexity_after'])}  "
              f"(kept in {args.model}/summary.json)")
        return 0
    res = perplexity(model_config_for(args.model, args.trust_remote_code, args.allow_pickle),
                     args.data, args.block_size, args.batch_size, ConsoleSink())
    print(f"loss {res['loss']:.4f}  perplexity {res['perplexity']:.3f}  "
          f"({res['blocks']} blocks of {res['block_size']} tokens)")
    return 0


def _generate(args) -> int:
    from ftgui.core.inference import load_for_generation, trained_on_chat
    from ftgui.core.playground import GenerationSettings, consume, stream_generate

    chat = args.chat or trained_on_chat(args.model)
    settings = GenerationSettings(args.max_new_tokens, args.temperature, args.top_p,
                                  args.seed, chat)
    settings.check()
    if not args.prompt and not chat:
        from ftgui.core.errors import ConfigError
        raise ConfigError("--prompt is empty: give the text for the model to continue, "
                          "e.g. --prompt 'Once upon a time'.", field="prompt")
    _say_threads()
    model, tok = load_for_generation(args.model, args.trust_remote_code, args.allow_pickle)
    stream = stream_generate(model, tok, args.prompt, settings)
    if not chat:
        print(args.prompt, end="", flush=True)
    # the text as it is written, like the window's Playground
    result = consume(stream, lambda piece: print(piece, end="", flush=True))
    print()
    if result.limit:
        print(f"(max new tokens lowered to {result.limit} to fit the model's context)",
              file=sys.stderr)
    return 0


def _doctor(args) -> int:
    """Exit 0 even with warnings: the report is for reading, not a gate."""
    import json

    from ftgui.core.doctor import collect, format_text
    report = collect()
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0


def _cache(args) -> int:
    from ftgui.core import hub, hub_cache, model_cache

    mib = 2**20
    if args.delete:
        chosen = hub_cache.select(args.delete)   # all named before any is deleted
        freed = hub_cache.delete(chosen)
        print(f"Deleted {len(chosen)} revision(s), freed {freed / mib:,.1f} MiB in "
              f"{hub.cache_dir()}")
        return 0
    if args.clear:
        print(f"Freed {model_cache.clear() / mib:,.1f} MiB in {model_cache.cache_base()}")
        return 0
    revisions = hub_cache.list_cached()
    print(f"Hugging Face cache: {hub.cache_dir()}")
    print(hub_cache.table(revisions) if revisions else "  (empty)")
    if revisions:
        print("ftgui cache --delete REV|REPO frees a revision or a repo.")
    u = model_cache.usage()
    print(f"\nftgui's cache: {u['folder']}\n  models (dequantised GGUF): "
          f"{u['models'] / mib:,.1f} MiB\n  data (tokenized): {u['data'] / mib:,.1f} MiB\n"
          f"ftgui cache --clear deletes them.")
    return 0


# the commands that compute with torch (its threads' policy is set before it loads)
TORCH_COMMANDS = ("train", "resume", "eval", "generate")
_THREADS_NOTE: list[str] = []


def _say_threads() -> None:
    """The threading choice, in one line, when the command goes on to the slow work (a
    command refused for bad input says only what was wrong)."""
    while _THREADS_NOTE:
        print(f"ftgui: {_THREADS_NOTE.pop()}", file=sys.stderr)


def _commands() -> dict:
    from ftgui import cli_data, cli_runs
    return {"train": _train, "resume": _resume, "eval": _eval, "generate": _generate,
            "doctor": _doctor, "cache": _cache, **cli_runs.COMMANDS, **cli_data.COMMANDS}
