"""Trying a run against its base model: the two models of a run, a small cache of them,
generation streamed piece by piece that a second thread can stop, and a preference run's
validation examples with how each model scores one.

Qt-free, so the window's Playground and the command line stream the same way.
"""

from __future__ import annotations

import gc
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ftgui.core import inference, models
from ftgui.core.config import ModelConfig, looks_like_path
from ftgui.core.errors import ConfigError, ModelError
from ftgui.core.runs import RunDir


@dataclass
class GenerationSettings:
    max_new_tokens: int = 100
    temperature: float = 0.7      # 0 is greedy
    top_p: float = 0.9
    seed: int = 0
    chat: bool = False            # wrap the prompt as a user turn in the chat template

    def check(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError("max new tokens: give 1 or more.")
        if self.temperature < 0:
            raise ConfigError("temperature: give 0 (greedy) or more.")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top-p: give a number above 0 and at most 1.")


@dataclass
class GenerationResult:
    text: str
    new_tokens: int
    seconds: float
    stopped: bool = False          # Stop was pressed before the model ended by itself
    limit: int | None = None       # max new tokens lowered to fit the context length

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        parts = [f"{self.new_tokens} token{'s' if self.new_tokens != 1 else ''} in "
                 f"{self.seconds:.1f} s",
                 f"{self.tokens_per_second:.1f} tokens/s"]
        if self.stopped:
            parts.append("stopped")
        if self.limit is not None:
            parts.append(f"capped at {self.limit} new tokens by the context length")
        return " · ".join(parts)


@dataclass
class PlaygroundModel:
    role: str                 # "base" or "tuned"
    title: str                # what the pane is labelled with
    config: ModelConfig


def run_models(run_dir: str | Path) -> tuple[PlaygroundModel, PlaygroundModel]:
    """The base model a run started from and the model it ended with, each loaded with the
    run's own settings (see ``inference.run_model_configs``)."""
    rd = RunDir(run_dir)
    base, tuned = inference.run_model_configs(rd.path)
    return (PlaygroundModel("base", source_name(base.source), base),
            PlaygroundModel("tuned", rd.path.name, tuned))


def source_name(source: str) -> str:
    """A short name for a model source: a Hub id as is, a folder or file by its name."""
    if looks_like_path(source) or source.startswith("pkg:"):
        return Path(source.rstrip("/\\")).name or source
    return source


EXAMPLES_SHOWN = 20   # a preference run's validation examples offered in the Playground


@dataclass
class ValidationExample:
    """One validation example of a preference run as it was trained and ranked (its
    prompt cut to data.block_size as training cut it): a pair, or for KTO one completion
    with its label."""
    number: int                          # its place among the run's validation examples
    prompt: list[dict]
    chosen: list[dict] | None = None
    rejected: list[dict] | None = None
    completion: list[dict] | None = None
    label: bool | None = None

    @property
    def paired(self) -> bool:
        return self.completion is None

    def answers(self) -> list[list[dict]]:
        return [self.chosen, self.rejected] if self.paired else [self.completion]

    def prompt_text(self) -> str:
        """The prompt for a person: a lone user message as it is, else each message
        under its role."""
        if len(self.prompt) == 1 and self.prompt[0]["role"] == "user":
            return message_text(self.prompt)
        return "\n\n".join(f"{m['role']}: {message_text([m])}" for m in self.prompt)

    def title(self, width: int = 60) -> str:
        text = " ".join(message_text(self.prompt[-1:]).split())
        text = text if len(text) <= width else text[:width - 1] + "…"
        mark = "" if self.paired else f" [label {str(self.label).lower()}]"
        return f"{self.number}.{mark} {text}"


def message_text(messages: list[dict]) -> str:
    """Messages' text, one after another (content parts joined)."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p)
                              for p in content)
        out.append("" if content is None else str(content))
    return "\n\n".join(out)


def validation_examples(run_dir: str | Path, tokenizer, limit: int = EXAMPLES_SHOWN
                        ) -> list[ValidationExample]:
    """The first ``limit`` validation examples of a preference run (none for SFT), read
    again with the run's config as the run read them (the same hold-out, the same cut to
    the block with ``tokenizer``, the run's own); raises a DataError a person can act on
    when its data cannot be read."""
    from ftgui.core import preference_data, sft

    cfg = RunDir(run_dir).load_config()
    objective = cfg.training.objective
    if objective == "sft":
        return []
    _, _, examples, _ = preference_data.read(cfg.data, cfg.training.seed)
    examples = examples or []
    if objective == "kto" and examples and "chosen" in examples[0]:
        examples = preference_data.unpair(examples)
    sft.prepare_tokenizer(tokenizer, cfg.data.template)
    out = []
    for n, ex in enumerate(examples, 1):
        cut, _, _ = preference_data.fit(tokenizer, ex, cfg.data.block_size)
        if cut is None:   # dropped by the run too
            continue
        out.append(ValidationExample(number=n, **cut))
        if len(out) >= limit:
            break
    return out


def example_score(model, tokenizer, example: ValidationExample) -> float:
    """A pair's log-probability margin (chosen minus rejected) under ``model``, or a KTO
    completion's log-probability: what the run's preference accuracy counts."""
    from ftgui.core import preference
    logps = preference.answer_logps(model, tokenizer, example.prompt, example.answers())
    return logps[0] - logps[1] if example.paired else logps[0]


class ModelCache:
    """The loaded models of one run: at most its base and its result, so a second Generate
    does not load them again, and a change of run gives their memory back.

    With ``live`` (a core.live_model.LiveModel), a run just trained in this process is
    used as it is in memory: its trained model, and for LoRA its base too (the same
    model with the adapter disabled); only what it lacks is loaded."""

    def __init__(self, loader: Callable[[ModelConfig], tuple] = inference.load_model_config,
                 live=None):
        self._loader = loader
        self._models: dict[tuple, tuple] = {}
        self.run_dir: str | None = None
        self.live = live
        self.loads = 0   # models loaded (not found here or in memory), for the curious

    @contextmanager
    def open(self, which: PlaygroundModel, progress=None):
        """(model, tokenizer) for one pane, usable until the block ends: from the live
        model when it is this run's (held meanwhile, so no run takes it mid-generation),
        else from this cache, loaded the first time (``progress``: see
        ``inference.load_model_config``; "memory" when it is the live model)."""
        if self.live is not None and self.run_dir:
            with self.live.using(self.run_dir, which.role) as pair:
                if pair is not None:
                    if progress:
                        progress("memory", 1, 1, "")
                    yield pair
                    return
        yield self.get(which.config, progress)

    def use_run(self, run_dir: str | Path) -> None:
        run_dir = str(Path(run_dir).resolve())
        if run_dir != self.run_dir:
            self.clear()
            self.run_dir = run_dir

    def get(self, mcfg: ModelConfig, progress=None) -> tuple:
        key = (mcfg.source, mcfg.trust_remote_code, mcfg.allow_pickle)
        if key not in self._models:
            with inference.reporting.set(progress):
                self._models[key] = self._loader(mcfg)
            self.loads += 1
        elif progress:
            progress("loaded", 1, 1, "")
        return self._models[key]

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        if not self._models:
            return
        self._models.clear()
        gc.collect()
        import sys
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def stream_generate(model, tok, prompt: str | list[dict], settings: GenerationSettings,
                    stop_event: threading.Event | None = None,
                    template_tok=None) -> Iterator[str]:
    """Yield the new text piece by piece as the model writes it, and return (as the
    generator's value; see ``consume``) a GenerationResult.

    ``model.generate`` runs on a thread of its own feeding a ``TextIteratorStreamer``;
    setting ``stop_event`` ends it after the current token, keeping what was written.
    The seed is set right before generating, so the same seed gives the same text. A
    ``prompt`` given as messages (a validation example's) goes through the chat template."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    settings.check()
    stop_event = stop_event or threading.Event()
    abandoned = threading.Event()   # the reader went away: stop without a user's Stop
    chat = settings.chat or isinstance(prompt, list)
    inputs = inference.encode_prompt(tok, prompt, chat, template_tok).to(model.device)
    prompt_len = inputs["input_ids"].shape[1]
    if prompt_len == 0:
        raise ConfigError("The prompt is empty: write some text for the model to continue.",
                          field="prompt")
    max_new, limit = settings.max_new_tokens, None
    ctx = models.context_length(model.config)
    if ctx:
        if prompt_len >= ctx:
            raise ModelError(f"The prompt is {prompt_len} tokens, but the model reads at "
                             f"most {ctx}; shorten the prompt.")
        if max_new > ctx - prompt_len:
            max_new = limit = ctx - prompt_len

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            done = stop_event.is_set() or abandoned.is_set()
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool,
                              device=input_ids.device)

    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    kw = inference.generation_kwargs(tok, max_new, settings.temperature, settings.top_p)
    box: dict = {}

    def work() -> None:
        try:
            with torch.no_grad():
                box["out"] = model.generate(**inputs, **kw, streamer=streamer,
                                            stopping_criteria=StoppingCriteriaList([_Stop()]))
        except BaseException as e:  # noqa: BLE001 - handed to the reader below
            box["error"] = e
            streamer.end()   # the reader waits on the streamer: wake it

    torch.manual_seed(settings.seed)
    thread = threading.Thread(target=work, name="ftgui-generate", daemon=True)
    t0 = time.perf_counter()
    thread.start()
    pieces = []
    try:
        for piece in streamer:
            if piece:
                pieces.append(piece)
                yield piece
    finally:
        abandoned.set()
        thread.join()
    seconds = time.perf_counter() - t0
    if "error" in box:
        raise box["error"]
    new_tokens = int(box["out"].shape[1] - prompt_len)
    stopped = stop_event.is_set() and new_tokens < max_new
    return GenerationResult("".join(pieces), new_tokens, seconds, stopped, limit)


def consume(stream: Iterator[str], on_piece: Callable[[str], None]) -> GenerationResult:
    """Drive ``stream_generate``: each piece to ``on_piece``, then its result."""
    while True:
        try:
            on_piece(next(stream))
        except StopIteration as end:
            return end.value
