"""`ftgui data`: what training would use, without loading model weights (tokenizer only).

Wired into ``ftgui.cli`` by ``add_parser(subparsers)`` and ``COMMANDS``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftgui.core.errors import ConfigError

SECTIONS = ("model.", "data.", "training.", "lora.")


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="show how a dataset will be read and trained on: format, "
                       "columns, splits, examples kept / cut / dropped, one marked example")
    d.add_argument("source", metavar="SOURCE_OR_CONFIG",
                   help="a dataset file, folder or Hub id, or a YAML run config")
    d.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override a setting (data.format=chat, or "
                   "format=chat for a data.* key); repeatable")
    d.add_argument("--model", default=None, help="model whose tokenizer and template to use "
                   "(default: the config's model, else the bundled demo model's)")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.add_argument("--example", type=int, default=1, metavar="N",
                   help="which training example to show (default 1)")


def load_config(source: str, overrides: list[str], model: str | None):
    """The run config `ftgui data` looks at: a YAML config, or a dataset with defaults."""
    from ftgui.core.config import RunConfig
    from ftgui.paths import demo_config_path

    p = Path(source).expanduser()
    if p.suffix.lower() in (".yaml", ".yml"):
        cfg = RunConfig.load(p)
    else:
        demo = RunConfig.load(demo_config_path()).model.source
        cfg = RunConfig.from_dict({"model": {"source": demo}, "data": {"source": source}},
                                  base_dir=Path.cwd(), where="ftgui data")
    sets = [o if o.startswith(SECTIONS) else f"data.{o}" for o in overrides]
    if model:
        sets.append(f"model.source={model}")
    return cfg.with_overrides(sets) if sets else cfg


def _data(args) -> int:
    from ftgui.core import data_report, models

    cfg = load_config(args.source, args.overrides, args.model)
    if args.example < 1:
        raise ConfigError("--example: give a number from 1.")
    models.check_block_size(cfg.model, cfg.data.block_size)
    models.quiet_libraries()
    tok = models.load_tokenizer(cfg.model)
    rep = data_report.describe(cfg.data, tok, args.example, cfg.training.seed,
                               cfg.training.objective)
    rep["tokenizer"] = cfg.model.source
    if args.json:
        print(json.dumps(rep, ensure_ascii=False, indent=2))
        return 0
    for line in data_report.lines(rep):
        print(line)
    print(f"Tokenizer and template: {cfg.model.source}.")
    ex = rep["example"]
    if "objective" in rep:
        from ftgui import cli_pairs
        for line in cli_pairs.example_lines(ex):
            print(line)
        return 0
    print(f"\nExample {ex['number']} (trained-on parts between [train] and [/train]):")
    text, pos = ex["text"], 0
    out = []
    for piece in ex["trained"]:
        at = text.index(piece, pos)
        out += [text[pos:at], "[train]", piece, "[/train]"]
        pos = at + len(piece)
    out.append(text[pos:])
    print("".join(out))
    return 0


COMMANDS = {"data": _data}
