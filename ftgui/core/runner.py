"""setup() / train() / cleanup(): the one place a Trainer is built.

    runner = Runner(config, sinks=[print_sink])
    runner.setup()      # device, tokenizer, data, model, run directory, Trainer
    summary = runner.train()
    runner.cleanup()

``request_stop()`` may be called from any thread: the run saves a checkpoint after the
current step and ends with status "stopped". ``Runner.resume(run_dir)`` continues one.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Iterable

from ftgui.core import data as data_mod
from ftgui.core import devices, models
from ftgui.core.callbacks import EventCallback, perplexity
from ftgui.core.config import RunConfig
from ftgui.core.errors import (ConfigError, DiskFullError, FtguiError, OutOfMemoryError,
                               RunDirError)
from ftgui.core.events import (Event, JsonlSink, Message, Progress, RunFailed, RunFinished,
                               RunStarted, Sink, drop_steps_after)
from ftgui.core.runs import RunDir, choose_run_dir, resumable_checkpoint, writer_info

log = logging.getLogger("ftgui")


class Runner:
    def __init__(self, config: RunConfig, sinks: Iterable[Sink] = (), *,
                 new_run: bool = False, resume_dir: str | Path | None = None,
                 launched: bool = False):
        self.config = config
        self.sinks: list[Sink] = list(sinks)
        self.new_run = new_run
        self.resume_dir = Path(resume_dir) if resume_dir else None
        # launched: one process of a torchrun launch whose launcher made the run folder
        self.launched = launched
        self._jsonl: JsonlSink | None = None
        self.rank = int(os.environ.get("RANK", "0"))
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.is_main = self.rank == 0
        known = self.resume_dir or (Path(config.training.output_dir) if launched else None)
        if known and self.is_main:  # the run folder exists: record from the first event
            self._jsonl = JsonlSink(RunDir(known).events_path)
        self.stop_event = threading.Event()
        self.run: RunDir | None = None
        self.trainer = None
        self.callback: EventCallback | None = None
        self._pending: list[Event] = []   # events from before the run dir existed
        self._checkpoint: Path | None = None
        self._summary: dict = {}
        self._t0 = time.time()

    @classmethod
    def resume(cls, run_dir: str | Path, sinks: Iterable[Sink] = (),
               launched: bool = False) -> "Runner":
        rd = RunDir(run_dir)
        if not rd.path.is_dir():
            raise RunDirError(f"{rd.path} does not exist. Give the folder of a run to resume.")
        return cls(rd.load_config(), sinks, resume_dir=rd.path, launched=launched)

    # ---- events -------------------------------------------------------------------------
    def emit(self, event: Event, *, best_effort: bool = False) -> None:
        if not self.is_main:
            return  # in a multi-process run only rank 0 reports
        if self._jsonl is not None:
            try:
                self._jsonl(event)
            except OSError:
                if not best_effort:  # reporting a failure (a full disk?) must still reach
                    raise            # the person through the other sinks
        elif not isinstance(event, Progress):
            self._pending.append(event)
        for sink in self.sinks:
            sink(event)

    def request_stop(self) -> None:
        self.stop_event.set()

    # ---- setup ----------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.config
        cfg.check()
        models.quiet_libraries()
        run_path = self._choose_run_dir()
        device = devices.choose(cfg.training.device, cfg.training.precision)
        self.device = device
        self.emit(Message(f"Device: {device.description} ({device.reason})."))

        self.emit(Progress("Loading tokenizer", 0, 0, cfg.model.source))
        tokenizer = models.load_tokenizer(cfg.model)
        prepared = data_mod.prepare(cfg.data, tokenizer, cfg.training.seed, self.emit)
        s = prepared.stats
        self.emit(Message(
            f"Data{' (from cache)' if prepared.cached else ''}: {s['train_rows']:,} rows, "
            f"{s['train_tokens']:,} tokens, {s['train_blocks']:,} blocks of "
            f"{cfg.data.block_size} for training; {s['eval_blocks']:,} validation blocks."))

        self.emit(Progress("Loading model", 0, 0, cfg.model.source))
        # full fine-tuning keeps fp32 weights (mixed precision casts on the fly); LoRA on a
        # GPU loads the frozen base in the half precision chosen
        dtype = None
        if cfg.model.method == "lora" and device.device == "cuda":
            dtype = devices.torch_dtype(device.precision)
        model = models.load_model(cfg.model, dtype)
        ctx = models.context_length(model.config)
        if ctx and cfg.data.block_size > ctx:
            raise ConfigError(f"data.block_size: {cfg.data.block_size} is above the model's "
                              f"context length of {ctx} tokens; use {ctx} or less.",
                              field="data.block_size")
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        # No KV cache while training: with it on, every forward also fills one (tiny
        # GPT-2, batch 8 x ~230 tokens: 183 vs 131 ms a step; bench/NOTES.md, issue 22).
        # The final model is saved with the setting it came with (_save_final).
        self._use_cache = getattr(model.config, "use_cache", None)
        if self._use_cache:
            model.config.use_cache = False
        if cfg.model.method == "lora":
            from transformers import set_seed
            set_seed(cfg.training.seed)  # the adapters' initial weights depend on it
            model = models.apply_lora(model, cfg.lora)
        total, trainable = models.count_params(model)
        self.emit(Message(f"Model: {type(model).__name__}, {total:,} parameters, "
                          f"{trainable:,} trainable ({cfg.model.method})."))

        self.run = RunDir(run_path)
        self.trainer = self._build_trainer(model, tokenizer, prepared, device)
        self._open_run_dir(run_path)  # last: a setup that fails leaves no run folder
        before = self.run.summary() if self.resume_dir else {}
        if self.resume_dir and not self._checkpoint:
            # starting again from step 0: evaluate the base model again, as a new run
            # does, so the random state (and the result) is the same as a new run's
            for key in ("eval_loss_before", "perplexity_before"):
                before.pop(key, None)
        self._summary = {
            **before,
            "status": "running", "model": cfg.model.source, "method": cfg.model.method,
            "dataset": cfg.data.source, "device": device.description,
            "total_params": total, "trainable_params": trainable, **s,
            "writer": writer_info(),  # a reader tells a dead run ("interrupted") by it
        }
        self._summary.setdefault("started_at", time.strftime("%Y-%m-%d %H:%M:%S"))
        self._write_summary()
        self._params = (total, trainable)
        self._blocks = (s["train_blocks"], s["eval_blocks"])

    def _choose_run_dir(self) -> Path:
        if self.resume_dir:
            rd = RunDir(self.resume_dir)
            # a launched process: the launcher checked the run; rank 0 may already be
            # writing "running" into it
            self._checkpoint = rd.latest_checkpoint() if self.launched \
                else resumable_checkpoint(rd.path)
            if self.is_main:
                self._tidy_for_resume(rd)
            return rd.path
        if self.launched:
            return Path(self.config.training.output_dir)
        return choose_run_dir(self.config, self.new_run)

    def _tidy_for_resume(self, rd: RunDir) -> None:
        """Before continuing an interrupted run: delete what a killed process left half
        written (it is never used and may fill the disk), and drop the events of the
        steps after the checkpoint, which are done again, so the curve has each step once."""
        for torn in rd.torn_checkpoints():
            shutil.rmtree(torn, ignore_errors=True)
            self.emit(Message(f"Removed {torn.name}, cut off while it was being written."))
        for partial in (rd.model_dir, rd.adapter_dir):
            shutil.rmtree(partial.with_name(partial.name + ".partial"), ignore_errors=True)
        step = int(self._checkpoint.name.split("-")[1]) if self._checkpoint else 0
        # from the start, the evaluation of the base model (step 0) is done again too
        lost = drop_steps_after(rd.events_path, step if self._checkpoint else -1)
        redo = f" Steps {step + 1}-{lost} of the interrupted run are done again." \
            if lost > step else ""
        if not self._checkpoint:
            self.emit(Message(f"No complete checkpoint in {rd.path}: training starts again "
                              f"from step 0.{redo}", level="warning"))
        elif redo:
            self.emit(Message(f"Resuming from {self._checkpoint.name}.{redo}",
                              level="warning"))

    def _open_run_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        # runs may hold private data: readable by the user only, checkpoints included
        for folder in (path, RunDir(path).checkpoints_dir):
            folder.mkdir(exist_ok=True)
            try:
                folder.chmod(0o700)
            except OSError:
                pass
        self.run = RunDir(path)
        if not self.is_main:
            return
        if not self.resume_dir and not self.launched:
            self.config.training.output_dir = str(path)
            self.config.save(self.run.config_path)
        if self._jsonl is None:
            self._jsonl = JsonlSink(self.run.events_path)
        for event in self._pending:
            self._jsonl(event)
        self._pending.clear()
        handler = logging.FileHandler(self.run.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._log_handler = handler
        for name in ("ftgui", "transformers", "peft"):
            logging.getLogger(name).addHandler(handler)

    def _build_trainer(self, model, tokenizer, prepared, device):
        from transformers import Trainer, TrainingArguments
        from transformers.trainer_callback import PrinterCallback

        t = self.config.training
        has_eval = prepared.eval is not None
        args = TrainingArguments(
            output_dir=str(self.run.checkpoints_dir),
            num_train_epochs=t.epochs,
            max_steps=t.max_steps or -1,
            per_device_train_batch_size=t.batch_size,
            per_device_eval_batch_size=t.batch_size,
            gradient_accumulation_steps=t.gradient_accumulation,
            learning_rate=t.learning_rate,
            lr_scheduler_type=t.scheduler,
            warmup_steps=t.warmup_ratio,
            weight_decay=t.weight_decay,
            bf16=device.precision == "bf16",
            fp16=device.precision == "fp16",
            activation_checkpointing=t.gradient_checkpointing,
            activation_checkpointing_kwargs={"use_reentrant": False}
            if t.gradient_checkpointing else None,
            logging_steps=t.logging_steps,
            eval_strategy="steps" if (has_eval and t.eval_steps) else "no",
            eval_steps=t.eval_steps,
            save_strategy="steps",
            save_steps=t.save_steps,
            save_total_limit=t.save_total_limit,
            seed=t.seed,
            data_seed=t.seed,
            use_cpu=device.device == "cpu",
            ddp_backend=("gloo" if device.device == "cpu" else None)
            if self.world_size > 1 else None,
            **_strategy_args(t),
            auto_find_batch_size=t.auto_find_batch_size,
            report_to="none",
            disable_tqdm=True,
            log_level="error",
            log_level_replica="error",
            dataloader_num_workers=0,
        )
        tokens_per_step = t.batch_size * t.gradient_accumulation * self.config.data.block_size \
            * max(args.world_size, 1)
        self.callback = EventCallback(self.emit, self.stop_event, tokens_per_step,
                                      self._on_begin, stop_file=self.run.stop_path)
        self._tokens_per_step = tokens_per_step
        trainer = Trainer(model=model, args=args,
                       train_dataset=data_mod.SequenceDataset(prepared.train),
                       eval_dataset=data_mod.SequenceDataset(prepared.eval) if has_eval else None,
                       data_collator=data_mod.PadCollator(tokenizer.pad_token_id),
                       processing_class=tokenizer,
                       callbacks=[self.callback])
        trainer.remove_callback(PrinterCallback)  # our sinks own progress output
        return trainer

    def _on_begin(self, total_steps: int, start_step: int) -> None:
        self.emit(RunStarted(
            run_dir=str(self.run.path), device=self.device.device,
            precision=self.device.precision, device_reason=self.device.reason,
            total_params=self._params[0], trainable_params=self._params[1],
            total_steps=total_steps, start_step=start_step,
            tokens_per_step=self._tokens_per_step, train_blocks=self._blocks[0],
            eval_blocks=self._blocks[1]))

    # ---- train -------------------------------------------------------------------------------
    def train(self) -> dict:
        trainer = self.trainer
        try:
            if trainer.eval_dataset is not None and "eval_loss_before" not in self._summary:
                self.emit(Progress("Evaluating the base model", 0, 0))
                loss = trainer.evaluate()["eval_loss"]
                self._summary.update(eval_loss_before=loss, perplexity_before=perplexity(loss))
                self._write_summary()
            _unprepare_after_eval(trainer)
            ckpt = str(self._checkpoint) if self._checkpoint else None
            if ckpt:
                self.emit(Message(f"Resuming from {Path(ckpt).name}."))
            if ckpt and _training_complete(Path(ckpt)):
                # cut off after the last step (evaluating or saving the model): the
                # Trainer would run one step too many, so load the weights and go on
                from transformers.trainer_callback import TrainerState
                trainer._load_from_checkpoint(ckpt)
                trainer.state = TrainerState.load_from_json(
                    str(Path(ckpt) / "trainer_state.json"))
                self._on_begin(trainer.state.max_steps, trainer.state.global_step)
                out = None
            else:
                out = trainer.train(resume_from_checkpoint=ckpt)
            status = "stopped" if self.callback.stopped else "finished"
            state = trainer.state
            losses = [h["loss"] for h in state.log_history if "loss" in h]
            self._summary.update(
                status=status, steps=state.global_step, total_steps=state.max_steps,
                final_train_loss=losses[-1] if losses else getattr(out, "training_loss",
                                                                   None),
                tokens_seen=state.global_step * self._tokens_per_step,
                duration_s=self._summary.get("duration_s", 0) + (time.time() - self._t0))
            if status == "finished":
                if trainer.eval_dataset is not None:
                    # an evaluation at the last step (eval_steps dividing max_steps) already
                    # measured this model: once in the events and curves, not twice
                    loss = next((h["eval_loss"] for h in reversed(state.log_history)
                                 if "eval_loss" in h and h.get("step") == state.global_step),
                                None)
                    if loss is None:
                        self.emit(Progress("Evaluating the fine-tuned model", 0, 0))
                        loss = trainer.evaluate()["eval_loss"]
                    self._summary.update(eval_loss_after=loss, perplexity_after=perplexity(loss))
                self.emit(Progress("Saving the model", 0, 0))
                self._save_final()
                self._summary["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
            else:
                cp = self.run.latest_checkpoint()
                self.emit(Message(f"Stopped at step {state.global_step}; checkpoint "
                                  f"{cp.name if cp else '-'} saved. Resume to continue."))
            self._write_summary()
            self.emit(RunFinished(run_dir=str(self.run.path), status=status,
                                  summary=dict(self._summary)))
            return self._summary
        except FtguiError as e:
            self._fail(e.message, True, e.field)
            raise
        except BaseException as e:
            user = user_error_for(e, self.config, self.run, getattr(self, "device", None))
            if user is not None:
                if isinstance(user, OutOfMemoryError):
                    log.warning("out of memory:\n%s", traceback.format_exc())
                self._fail(user.message, True, user.field)
                raise user from e
            tb = traceback.format_exc()
            log.error("run failed:\n%s", tb)
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self._fail(f"{type(e).__name__}: {msg}", False, None)
            raise

    def _write_summary(self) -> None:
        if self.is_main:
            self.run.write_summary(self._summary)

    def _fail(self, message: str, user_error: bool, field: str | None) -> None:
        if self.run:
            self._summary.update(status="failed", error=message,
                                 duration_s=self._summary.get("duration_s", 0)
                                 + (time.time() - self._t0))
            try:
                self._write_summary()
            except OSError:
                pass  # a full disk: the message below still reaches the person
        self.emit(RunFailed(message=message, user_error=user_error, field=field,
                            log_path=str(self.run.log_path) if self.run else None),
                  best_effort=True)

    def _save_final(self) -> None:
        """Write the final model to a temporary folder and rename it into place, so a crash
        never leaves a half-written model that looks complete."""
        if not self.is_main:
            return
        model = self.trainer.model
        tokenizer = self.trainer.processing_class
        if models.is_peft(model):
            _atomic_dir(self.run.adapter_dir, lambda p: (model.save_pretrained(
                p, save_embedding_layers=False),
                                                         tokenizer.save_pretrained(p)))
            model = model.merge_and_unload()
        if getattr(self, "_use_cache", None):
            model.config.use_cache = True
        _atomic_dir(self.run.model_dir, lambda p: (model.save_pretrained(p),
                                                   tokenizer.save_pretrained(p)))

    def cleanup(self) -> None:
        handler = getattr(self, "_log_handler", None)
        if handler:
            for name in ("ftgui", "transformers", "peft"):
                logging.getLogger(name).removeHandler(handler)
            handler.close()
        self.trainer = None
        import gc
        gc.collect()


def _training_complete(checkpoint: Path) -> bool:
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        return 0 < int(state["max_steps"]) <= int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _unprepare_after_eval(trainer) -> None:
    """Let train() wrap the model in DistributedDataParallel after an evaluate().

    Trainer.evaluate() before train() prepares the bare model for evaluation only
    (accelerate's prepare_model(evaluation_mode=True)), which marks it
    ``_is_accelerate_prepared``; train()'s prepare then returns it unwrapped, so under DDP
    the processes never all-reduce their gradients and each trains on its own share of
    the batch (transformers 5.24 / accelerate 1.15). FSDP and DeepSpeed are wrapped by
    evaluate() itself and are left alone."""
    model = trainer.model
    if trainer.args.world_size <= 1 or trainer.model_wrapped is not model or \
            not getattr(model, "_is_accelerate_prepared", False):
        return
    del model._is_accelerate_prepared
    original = model.__dict__.pop("_original_forward", None)
    if original is not None:  # the autocast wrapper is put on again by train()'s prepare
        model.forward = original
    models_ = trainer.accelerator._models
    models_[:] = [m for m in models_ if m is not model]


def _strategy_args(t) -> dict:
    if t.strategy == "fsdp":
        return {"fsdp": "full_shard auto_wrap"}
    if t.strategy == "deepspeed":
        import importlib.util
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("training.strategy: deepspeed is not installed here; "
                              "pip install deepspeed, or choose ddp or fsdp.",
                              field="training.strategy")
        if not Path(t.deepspeed_config).is_file():
            raise ConfigError(f"training.deepspeed_config: {t.deepspeed_config} does not "
                              f"exist.", field="training.deepspeed_config")
        return {"deepspeed": t.deepspeed_config}
    return {}


def _atomic_dir(final: Path, write) -> None:
    tmp = final.with_name(final.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True, mode=0o700)
    write(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def run_config(config: RunConfig, sinks: Iterable[Sink] = (), *, new_run: bool = False,
               runner_out: list | None = None) -> dict:
    """Setup, train and clean up in one call; returns the summary."""
    runner = Runner(config, sinks, new_run=new_run)
    if runner_out is not None:
        runner_out.append(runner)
    return drive(runner)


def resume_run(run_dir: str | Path, sinks: Iterable[Sink] = (),
               runner_out: list | None = None) -> dict:
    runner = Runner.resume(run_dir, sinks)
    if runner_out is not None:
        runner_out.append(runner)
    return drive(runner)


def drive(runner: Runner) -> dict:
    """setup(), train(), cleanup(); a failure in setup is reported as a RunFailed event."""
    try:
        try:
            runner.setup()
        except FtguiError as e:
            runner.emit(RunFailed(message=e.message, user_error=True, field=e.field),
                        best_effort=True)
            raise
        except BaseException as e:
            user = user_error_for(e, runner.config, runner.run,
                                  getattr(runner, "device", None))
            if user is not None:
                runner.emit(RunFailed(message=user.message, user_error=True,
                                      field=user.field), best_effort=True)
                raise user from e
            log.error("setup failed:\n%s", traceback.format_exc())
            runner.emit(RunFailed(message=f"{type(e).__name__}: {e}", user_error=False))
            raise
        return runner.train()
    finally:
        runner.cleanup()


# ---- failures a person can fix: a full disk, too little memory ---------------------------------
_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)}
_DISK_TEXT = ("no space left", "file too large", "disk quota", "os error 28", "os error 27",
              "os error 122", "pytorchstreamwriter failed writing", "file write failed",
              "unexpected pos")
_OOM_TEXT = ("out of memory", "can't allocate memory", "defaultcpuallocator")


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def user_error_for(exc: BaseException, config: RunConfig, run: RunDir | None,
                   device=None) -> FtguiError | None:
    """A DiskFullError or OutOfMemoryError for ``exc`` when that is what it is, with a
    message that says what to do; None for anything else."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _DISK_ERRNOS or \
                any(t in str(e).lower() for t in _DISK_TEXT):
            return _disk_full(e, run)
    for e in _chain(exc):
        if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or \
                isinstance(e, RuntimeError) and any(t in str(e).lower() for t in _OOM_TEXT):
            return _out_of_memory(e, config, device)
    return None


def _first_line(e: BaseException) -> str:
    import re
    text = str(e).strip()
    if not text:
        return type(e).__name__
    # torch's "[enforce fail at alloc_cpu.cpp:127] err == 0. " says nothing to a person
    text = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*(err == 0\.\s*)?", "",
                  text.splitlines()[0]).strip()
    text = re.sub(r"\s*Error code \d+.*$", "", text)
    return text if len(text) <= 200 else text[:197] + "..."


def _disk_full(e: BaseException, run: RunDir | None) -> DiskFullError:
    name = getattr(e, "filename", None)
    folder = Path(name).parent if name else (run.path if run else Path.cwd())
    if run is not None:
        cp = run.latest_checkpoint()
        after = f"'ftgui resume {run.path}' continues from " + \
            (f"{cp.name}, which is intact" if cp else "the start (no checkpoint was complete)")
    else:
        after = "start the run again"
    return DiskFullError(f"Could not write to {folder}: the disk is full (or over its quota "
                         f"or file size limit: {_first_line(e)}). Free some space, then "
                         f"{after}.", field="training.output_dir")


def _out_of_memory(e: BaseException, config: RunConfig, device=None) -> OutOfMemoryError:
    m, d, t = config.model, config.data, config.training
    where = getattr(device, "device", None) or "this machine"
    tips = []
    if m.method == "full":
        tips.append("model.method: lora (trains far fewer weights)")
    if t.batch_size > 1:
        tips.append(f"a smaller training.batch_size (now {t.batch_size}; raise "
                    f"gradient_accumulation to keep the effective batch)")
    if not t.gradient_checkpointing:
        tips.append("training.gradient_checkpointing: true")
    if d.block_size > 32:
        tips.append(f"a shorter data.block_size (now {d.block_size})")
    if where == "cuda" and not t.auto_find_batch_size:
        tips.append("training.auto_find_batch_size: true to find the largest batch that fits")
    advice = "; ".join(tips) or "a smaller model"
    return OutOfMemoryError(f"Out of memory on {where} ({_first_line(e)}). To need less, "
                            f"try: {advice}. Then start the run again.",
                            field="training.batch_size")
