"""setup() / train() / cleanup(): the one place a Trainer is built.

    runner = Runner(config, sinks=[print_sink])
    runner.setup()      # device, tokenizer, data, model, run directory, Trainer
    summary = runner.train()
    runner.cleanup()

``request_stop()`` may be called from any thread: the run saves a checkpoint after the
current step and ends with status "stopped". ``Runner.resume(run_dir)`` continues one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from transformers import TrainerCallback

from ftgui.core import data as data_mod
from ftgui.core import compat, data_report, devices, formats, hub, models, trust
from ftgui.core.callbacks import EventCallback, perplexity, weights_finite
from ftgui.core.config import RunConfig
from ftgui.core.errors import (ConfigError, DiskFullError, FtguiError, OutOfMemoryError,
                               RunDirError, disk_full_cause)
from ftgui.core.events import (EvalLogged, Event, JsonlSink, Message, Progress, RunFailed,
                               RunFinished, RunStarted, Sink, Stage, StepLogged,
                               drop_steps_after)
from ftgui.core.measure import TokenCounter, peak_memory
from ftgui.core.runs import RunDir, check_resume_config, claim_run_dir, lock_for_resume
from ftgui.core.wording import describe_error, first_line

log = logging.getLogger("ftgui")


class Runner:
    def __init__(self, config: RunConfig, sinks: Iterable[Sink] = (), *,
                 new_run: bool = False, resume_dir: str | Path | None = None,
                 launched: bool = False, live=None):
        self.config = config
        # live: a core.live_model.LiveModel (the window's): the base is taken from it when
        # it holds one, and the trained model is left in it after the run
        self.live = live
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
        self._lock = None        # the run folder's RunLock, held from the check to cleanup()
        self._created = False    # the run folder was made by this runner
        self._summary: dict = {}
        self._t0 = time.time()
        self._stage_t: dict[str, float] = {}   # stages begun and not done: their start

    @classmethod
    def resume(cls, run_dir: str | Path, sinks: Iterable[Sink] = (),
               launched: bool = False, trust_remote_code: bool = False,
               live=None) -> "Runner":
        """``trust_remote_code``: the person approves the code the run folder's config
        turns on (else it must have been approved on this machine; see trust.py)."""
        rd = RunDir(run_dir)
        if not rd.path.is_dir():
            raise RunDirError(f"{rd.path} does not exist. Give the folder of a run to resume.")
        cfg = rd.load_config()
        if cfg.model.trust_remote_code and not launched:  # a launcher checked already
            trust.require([cfg.model.source], str(rd.config_path), trust_remote_code)
        return cls(cfg, sinks, resume_dir=rd.path, launched=launched, live=live)

    # ---- events -------------------------------------------------------------------------
    def emit(self, event: Event, *, best_effort: bool = False) -> None:
        if not self.is_main:
            return  # in a multi-process run only rank 0 reports
        if isinstance(event, StepLogged) and "first_step" in self._stage_t:
            self._stage_done("first_step")
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

    def _stage(self, stage: str) -> None:
        self._stage_t[stage] = time.perf_counter()
        self.emit(Stage(stage, "started"))

    def _stage_done(self, stage: str) -> None:
        t = self._stage_t.pop(stage, None)
        if t is not None:
            self.emit(Stage(stage, "done", time.perf_counter() - t))

    # ---- setup ----------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.config
        cfg.check()
        models.quiet_libraries()
        if cfg.model.trust_remote_code and not self.resume_dir and self.is_main:
            # the person's own config turns it on: that is their approval of this code
            trust.require([cfg.model.source], "config", approve_now=True)
        run_path = self._choose_run_dir()
        device = devices.choose(cfg.training.device, cfg.training.precision)
        self.device = device
        self.emit(Message(f"Device: {device.description} ({device.reason})."))

        if models.resolve_source(cfg.model.source).kind == "hub":
            # a stage of its own, with bytes, speed and ETA; Stop cancels it (hub.py).
            # Rank 0 fetches, the other ranks then find the files in the cache.
            self._stage("download")
            with main_process_first(self.world_size, device.device):
                hub.download(cfg.model.source, self.emit, self.stop_event,
                             cfg.model.allow_pickle)
            self._stage_done("download")
        self._stage("tokenizer")
        self.emit(Progress("Loading tokenizer", 0, 0, cfg.model.source))
        # every data error before any weights load: context length from config.json or
        # the GGUF header, then the tokenizer and the data
        models.check_block_size(cfg.model, cfg.data.block_size)
        tokenizer = models.load_tokenizer(cfg.model)
        self._tokenizer = tokenizer
        self._stage_done("tokenizer")
        self._stage("data")
        with main_process_first(self.world_size, device.device):
            prepared = self._prepare_data(tokenizer)
        self._stage_done("data")
        s = prepared.stats
        data_lines = data_report.lines(data_report.report(s, cfg.data.block_size))
        for line in data_lines:
            self.emit(Message(line))
        if cfg.training.objective == "sft":
            self.emit(Message(
                f"Data{' (from cache)' if prepared.cached else ''}: {s['train_rows']:,} rows, "
                f"{s['train_tokens']:,} tokens, {s['train_blocks']:,} blocks of "
                f"{cfg.data.block_size} for training; {s['eval_blocks']:,} validation "
                f"blocks."))
        else:
            self.emit(Message(
                f"Data: {s['train_blocks']:,} {cfg.training.objective.upper()} examples "
                f"({s['train_tokens']:,} tokens) for training; {s['eval_blocks']:,} for "
                f"validation."))
        if s.get("skipped_note"):  # also kept in summary.json (skipped_rows, skipped_note)
            self.emit(Message(s["skipped_note"], level="warning"))

        self._stage("model")
        self.emit(Progress("Loading model", 0, 0, cfg.model.source))
        # full fine-tuning keeps fp32 weights (mixed precision casts on the fly); LoRA on a
        # GPU loads the frozen base in the half precision chosen
        dtype = None
        if cfg.model.method == "lora" and device.device == "cuda":
            dtype = devices.torch_dtype(device.precision)
        model = self._load_base(dtype)
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
        if cfg.model.method == "lora" and cfg.training.objective == "sft":
            from transformers import set_seed
            set_seed(cfg.training.seed)  # the adapters' initial weights depend on it
            model = models.apply_lora(model, cfg.lora)
        self._stage_done("model")

        self.run = RunDir(run_path)
        self._eval_examples = (prepared.eval or []) if cfg.training.objective != "sft" \
            else []
        self._base_eval_key, self._base_eval_kept = None, None
        # kept for SFT only: a preference run's step-0 evaluation is TRL's reward metrics
        if (prepared.eval is not None and not self._checkpoint
                and cfg.training.objective == "sft"):
            from ftgui.core import base_eval
            self._base_eval_key = base_eval.key(cfg, prepared.eval, len(tokenizer),
                                                device.device, device.precision,
                                                self.world_size)
            self._base_eval_kept = base_eval.load(self._base_eval_key)
        self.trainer = self._build_trainer(model, tokenizer, prepared, device)
        # counted on the trainer's model: TRL adds the adapters of a LoRA preference run
        total, trainable = models.count_params(self.trainer.model)
        self.emit(Message(f"Model: {type(self.trainer.model).__name__}, {total:,} parameters, "
                          f"{trainable:,} trainable ({cfg.model.method})."))
        self._open_run_dir(run_path)  # last: a setup that fails leaves no run folder
        before = self.run.summary() if self.resume_dir else {}
        if self.resume_dir and not self._checkpoint:
            # starting again from step 0: evaluate the base model again, as a new run
            # does, so the random state (and the result) is the same as a new run's
            for key in ("eval_loss_before", "perplexity_before",
                        "preference_accuracy_before", "preference_margin_before"):
                before.pop(key, None)
        self._summary = {
            **before,
            "status": "running", "model": cfg.model.source, "method": cfg.model.method,
            "objective": cfg.training.objective,
            "dataset": cfg.data.source, "device": device.description,
            "total_params": total, "trainable_params": trainable, **s,
            "data_summary": data_lines,
            "config": cfg.to_dict(),  # as run: a resume refuses edits that change the result
        }
        self._summary.pop("writer", None)  # written by earlier versions; the lock tells now
        self._summary.setdefault("started_at", time.strftime("%Y-%m-%d %H:%M:%S"))
        self._write_summary()
        self._params = (total, trainable)
        self._blocks = (s["train_blocks"], s["eval_blocks"])

    def _load_base(self, dtype):
        """The base model: the one this window's last run left in memory when it can serve
        (see LiveModel.take_base), else loaded."""
        cfg = self.config.model
        if self.live is not None:
            from ftgui.core.live_model import load_key
            self._live_key = load_key(cfg, dtype)
            model = self.live.take_base(self._live_key,
                                        self.resume_dir if self._checkpoint else None)
            if model is not None:
                self.emit(Message("Model: reused from memory (the last run's), not loaded "
                                  "again."))
                return model
        return models.load_model(cfg, dtype)

    def _keep_live(self, status: str) -> None:
        """Leave the trained model to the window: the Playground uses a finished one, a
        Resume a stopped one; the optimizer and the rest of the Trainer are let go."""
        if self.live is None or not self.is_main or self.trainer is None or \
                status not in ("finished", "stopped") or getattr(self, "_merged_in_place",
                                                                 False):
            return
        if self.config.training.objective in ("dpo", "kto") and status == "stopped" and \
                self.config.model.method != "lora":
            # its Resume must start from the base weights: DPO / KTO copy the model they
            # are given as the reference (core/preference.py), and the trained one is not
            return
        from ftgui.core.live_model import Kept
        model = self.trainer.accelerator.unwrap_model(self.trainer.model,
                                                      keep_fp32_wrapper=False)
        compat.drop_fused_lm_head(model)   # TRL's (DPO, KTO): the model's own forward again
        self.tokens.detach()
        if getattr(self, "_use_cache", None):
            model.config.use_cache = True   # generation wants its cache
        self.live.keep(Kept(run_dir=str(self.run.path), status=status, key=self._live_key,
                            method=self.config.model.method, model=model,
                            tokenizer=self._tokenizer))

    def _choose_run_dir(self) -> Path:
        if self.resume_dir:
            rd = RunDir(self.resume_dir)
            # a launched process: the launcher checked the run and holds its lock; rank 0
            # may already be writing "running" into it
            if self.launched:
                self._checkpoint = rd.latest_checkpoint()
            else:
                self._lock, self._checkpoint = lock_for_resume(rd.path)
            check_resume_config(rd.path, self.config)  # before any slow work
            if self.is_main:
                self._tidy_for_resume(rd)
            return rd.path
        if self.launched:
            return Path(self.config.training.output_dir)
        path, self._lock, self._created = claim_run_dir(self.config, self.new_run)
        return path

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
        # runs may hold private data: readable by the user only, checkpoints included; a
        # folder the person made and gave us keeps the mode they gave it
        ckpts = RunDir(path).checkpoints_dir  # ours always (the Trainer may make it first)
        private = [path, ckpts] if self._created else [ckpts]
        ckpts.mkdir(exist_ok=True)
        for folder in private:
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

    def _prepare_data(self, tokenizer):
        """SFT sequences, or preference examples for dpo / kto / orpo. A preference or
        labelled file read with data.format auto switches an sft run to dpo / kto, and
        says so."""
        cfg = self.config
        if cfg.training.objective == "sft":
            try:
                return data_mod.prepare(cfg.data, tokenizer, cfg.training.seed, self.emit)
            except formats.PreferenceFile as e:
                if cfg.data.format != "auto":
                    raise
                cfg.training.objective = e.objective
                self.emit(Message(
                    f"Guessed training.objective: {e.objective} ({cfg.data.source} is "
                    f"{'a preference' if e.objective == 'dpo' else 'an unpaired preference'}"
                    f" dataset). Set training.objective to choose another (orpo, kto, dpo)."))
        from ftgui.core import preference_data
        with data_mod.hub_messages(cfg.data):
            return preference_data.prepare(
                cfg.data, cfg.training.objective, tokenizer, cfg.training.seed,
                lambda stage, done, total: self.emit(Progress(stage, done, total)))

    def _build_trainer(self, model, tokenizer, prepared, device):
        from transformers import Trainer
        from transformers.trainer_callback import PrinterCallback

        t = self.config.training
        has_eval = prepared.eval is not None
        args = dict(
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
            # the base model is measured inside train(), after the model is wrapped for
            # DDP/FSDP; a resume from a checkpoint measured it before
            eval_on_start=has_eval and self._checkpoint is None and
            self._base_eval_kept is None,
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
            * max(self.world_size, 1)
        carried = TokenCounter.resumed(self._checkpoint)
        self._tokens_known = carried is not None   # a checkpoint from before the counting
        self.tokens = carried or TokenCounter()
        self.callback = EventCallback(self.emit, self.stop_event, tokens_per_step,
                                      self._on_begin, stop_file=self.run.stop_path,
                                      elapsed_before=self._elapsed_before(),
                                      counter=self.tokens, device=device.device)
        self._tokens_per_step = tokens_per_step
        if t.objective != "sft":
            from ftgui.core import preference
            trainer = preference.build_trainer(self.config, model, tokenizer, prepared, args,
                                               [self.callback])
            self.tokens.attach(trainer.model)   # TRL wraps a LoRA model in its adapters
        else:
            from transformers import TrainingArguments
            self.tokens.attach(model)
            trainer = Trainer(model=model, args=TrainingArguments(**args),
                              train_dataset=data_mod.SequenceDataset(prepared.train),
                              eval_dataset=data_mod.SequenceDataset(prepared.eval)
                              if has_eval else None,
                              data_collator=data_mod.collator(
                                  tokenizer, prepared.stats.get("format", "text")),
                              processing_class=tokenizer,
                              callbacks=[self.callback])
        trainer.remove_callback(PrinterCallback)  # our sinks own progress output
        trainer.add_callback(_BaseEval(self))
        return trainer

    def _elapsed_before(self) -> float:
        """Training time up to the checkpoint a resume starts from (its events after the
        checkpoint were dropped already): the elapsed time goes on from there."""
        from ftgui.core.events import StepLogged, read_events
        if not (self.resume_dir and self._checkpoint):
            return 0.0
        steps = [e for e in read_events(self.run.events_path) if isinstance(e, StepLogged)]
        return steps[-1].elapsed if steps else 0.0

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
            ckpt = str(self._checkpoint) if self._checkpoint else None
            if ckpt:
                self.emit(Message(f"Resuming from {Path(ckpt).name}."))
            if ckpt and _training_complete(Path(ckpt)):
                # cut off after the last step (evaluating or saving the model): the
                # Trainer would run one step too many, so load the weights and go on
                from transformers.trainer_callback import TrainerState
                compat.load_checkpoint_weights(trainer, ckpt)
                trainer.state = TrainerState.load_from_json(
                    str(Path(ckpt) / "trainer_state.json"))
                self._on_begin(trainer.state.max_steps, trainer.state.global_step)
                out = None
            else:
                if not ckpt:
                    self._pair_scores("before")
                out = trainer.train(resume_from_checkpoint=ckpt)
            status = "stopped" if self.callback.stopped else "finished"
            state = trainer.state
            if status == "finished" and not self.callback.diverged and \
                    not weights_finite(trainer.model):
                self.callback.diverged = (state.global_step, "weights", float("nan"))
            if self.callback.diverged:
                status = "diverged"
            losses = [h["loss"] for h in state.log_history if "loss" in h]
            self._summary.update(
                status=status, steps=state.global_step, total_steps=state.max_steps,
                final_train_loss=losses[-1] if losses else getattr(out, "training_loss",
                                                                   None),
                **self._measured(),
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
                    self._summary["eval_loss_after"] = loss
                    if self.config.training.objective == "sft":
                        self._summary["perplexity_after"] = perplexity(loss)
                    self._pair_scores("after")
                self.emit(Progress("Saving the model", 0, 0))
                self._save_final()
                self._summary["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
            elif status == "diverged":
                self._summary["error"] = self._divergence_message(*self.callback.diverged)
            else:
                cp = self.run.latest_checkpoint()
                self.emit(Message(f"Stopped at step {state.global_step}; checkpoint "
                                  f"{cp.name if cp else '-'} saved. Resume to continue."))
            self._write_summary()
            self._keep_live(status)
            self.emit(RunFinished(run_dir=str(self.run.path), status=status,
                                  summary=dict(self._summary)))
            return self._summary
        except FtguiError as e:
            self._fail(e.message, True, e.field)
            raise
        except BaseException as e:
            user = user_error_for(e, self.config, self.run, getattr(self, "device", None))
            if user is None and self._checkpoint is not None:
                user = checkpoint_error_for(e, self._checkpoint, self.run)
            if user is not None:
                if isinstance(user, OutOfMemoryError):
                    log.warning("out of memory:\n%s", traceback.format_exc())
                self._fail(user.message, True, user.field)
                raise user from e
            tb = traceback.format_exc()
            log.error("run failed:\n%s", tb)
            self._fail(describe_error(e), False, None)
            raise

    def _pair_scores(self, when: str) -> None:
        """Preference runs: how often the model ranks a validation pair's chosen answer
        above the rejected one, and the mean log-probability margin, kept in the summary
        as preference_accuracy_before / _after and preference_margin_before / _after."""
        if self.config.training.objective == "sft" or not self.is_main \
                or not self.trainer.eval_dataset:
            return
        from ftgui.core import preference
        self.emit(Progress(f"Ranking the validation pairs ({when})", 0, 0))
        scores = preference.pair_scores(self.trainer.model, self._tokenizer,
                                        self._eval_examples)
        if not scores:
            return
        self._summary.update({f"preference_accuracy_{when}": scores["accuracy"],
                              f"preference_margin_{when}": scores["margin"],
                              "preference_pairs": scores["pairs"]})
        self._write_summary()
        self.emit(Message(f"Validation pairs ranked right {when} training: "
                          f"{scores['accuracy']:.0%} of {scores['pairs']} (mean margin "
                          f"{scores['margin']:+.3f})."))

    def _divergence_message(self, step: int, what: str, value: float) -> str:
        lr = self.config.training.learning_rate
        cp = self.run.latest_checkpoint()
        kept = f"the last good checkpoint, {cp.name}, is kept" if cp else \
            "no checkpoint was saved before it"
        return (f"Training diverged at step {step}: the {what} became {value} (not a finite "
                f"number), so it stopped and {kept}; nothing with broken weights was saved. "
                f"Train again with a lower training.learning_rate (now {lr:g}; try "
                f"{lr / 10:g}).")

    def _measured(self) -> dict:
        peak, kind = peak_memory(self.device.device)
        known = self._tokens_known
        return {"tokens_trained": self.tokens.trained if known else None,
                "tokens_processed": self.tokens.processed if known else None,
                "peak_memory_bytes": peak, "peak_memory_kind": kind}

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
        tokenizer = self._tokenizer   # ORPO's trainer holds a copy (core/preference.py)
        state_dict = None
        if models.is_peft(model):
            _atomic_dir(self.run.adapter_dir, lambda p: (model.save_pretrained(
                p, save_embedding_layers=False),
                                                         tokenizer.save_pretrained(p)))
            # the merged weights, written without merging in place: the model stays the
            # base + its adapter, which the window's Playground uses (adapter off = base)
            state_dict = compat.merged_lora_state_dict(model)
            if state_dict is None:
                self._merged_in_place = True   # no adapter left to keep in memory
                model = model.merge_and_unload()
            else:
                model = model.get_base_model()
        if getattr(self, "_use_cache", None):
            model.config.use_cache = True
        _atomic_dir(self.run.model_dir, lambda p: (model.save_pretrained(
            p, state_dict=state_dict), tokenizer.save_pretrained(p)))
        state_dict = None
        if self.config.model.trust_remote_code:  # its code, copied by save_pretrained,
            trust.require([str(self.run.model_dir)], "run", approve_now=True)  # was run

    def cleanup(self) -> None:
        handler = getattr(self, "_log_handler", None)
        if handler:
            for name in ("ftgui", "transformers", "peft"):
                logging.getLogger(name).removeHandler(handler)
            handler.close()
        if getattr(self, "tokens", None) is not None:
            self.tokens.detach()
        self.trainer = None
        self._release_run_dir()
        import gc
        gc.collect()

    def _release_run_dir(self) -> None:
        """Let the run folder go; one made for a run whose setup failed holds only the lock
        file and is removed (a failed setup leaves no run folder)."""
        if self._lock is None:
            return
        path = self._lock.path.parent
        self._lock.release()
        self._lock = None
        try:
            if self._created and {p.name for p in path.iterdir()} <= {".lock"}:
                (path / ".lock").unlink(missing_ok=True)
                path.rmdir()
        except OSError:
            pass


@contextmanager
def main_process_first(world_size: int, device: str):
    """With several processes, each machine's first one prepares the data (filling the
    cache) while the others wait; they then read the cache instead of racing on it.
    The process group is started here, as TrainingArguments would start it."""
    if world_size <= 1:
        yield
        return
    from datetime import timedelta

    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu", backend="gloo" if device == "cpu" else None,
                         timeout=timedelta(seconds=1800))   # TrainingArguments.ddp_timeout
    with state.local_main_process_first():
        yield


def _training_complete(checkpoint: Path) -> bool:
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        return 0 < int(state["max_steps"]) <= int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


class _BaseEval(TrainerCallback):
    """The evaluation of the base model that ``eval_on_start`` runs at step 0: announced,
    and kept in the summary at once (a run cut off later still shows it)."""

    def __init__(self, runner: Runner):
        self.runner = runner

    def on_train_begin(self, args, state, control, **kw):
        kept = self.runner._base_eval_kept
        if args.eval_on_start:
            self._rng = _rng_state()
            self.runner._stage("base_eval")
            self.runner.emit(Progress("Evaluating the base model", 0, 0))
        elif kept is not None and state.global_step == 0:
            # the same base, validation blocks and settings were measured already
            loss = float(kept["eval_loss"])
            r = self.runner
            r.emit(Message(f"Base evaluation reused from {kept.get('run') or 'an earlier run'}"
                           f" ({kept.get('at', '')}): the same model, validation data, "
                           f"settings and seed; eval loss {loss:.4f}."))
            r.emit(Stage("base_eval", "done", 0.0))
            r.emit(EvalLogged(step=0, loss=loss, perplexity=perplexity(loss)))
            r._summary.update(eval_loss_before=loss, perplexity_before=perplexity(loss),
                              base_eval_reused_from=kept.get("run"))
            r._write_summary()
            r._stage("first_step")
        else:
            self.runner.emit(Stage("base_eval", "skipped"))
            self.runner._stage("first_step")

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if state.global_step == 0 and metrics and "eval_loss" in metrics:
            loss = metrics["eval_loss"]
            self.runner._summary["eval_loss_before"] = loss
            if self.runner.config.training.objective == "sft":
                self.runner._summary["perplexity_before"] = perplexity(loss)
            self.runner._write_summary()
            if self.runner.is_main:
                from ftgui.core import base_eval
                base_eval.save(self.runner._base_eval_key, loss, str(self.runner.run.path))
            # the evaluation drew from the random generator (its DataLoader's seed): put
            # it back, so training is the same whether the base was measured or reused
            if getattr(self, "_rng", None) is not None:
                _set_rng_state(self._rng)
                self._rng = None
            self.runner._stage_done("base_eval")
            self.runner._stage("first_step")


def _rng_state():
    import torch
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state) -> None:
    import torch
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


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
               runner_out: list | None = None, live=None) -> dict:
    """Setup, train and clean up in one call; returns the summary."""
    runner = Runner(config, sinks, new_run=new_run, live=live)
    if runner_out is not None:
        runner_out.append(runner)
    return drive(runner)


def resume_run(run_dir: str | Path, sinks: Iterable[Sink] = (),
               runner_out: list | None = None, live=None) -> dict:
    runner = Runner.resume(run_dir, sinks, live=live)
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
    full = disk_full_cause(exc)
    if full is not None:
        return _disk_full(full, run)
    for e in _chain(exc):
        if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or \
                isinstance(e, RuntimeError) and any(t in str(e).lower() for t in _OOM_TEXT):
            return _out_of_memory(e, config, device)
    return None


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
                         f"or file size limit: {first_line(e)}). Free some space, then "
                         f"{after}.", field="training.output_dir")


def checkpoint_error_for(exc: BaseException, checkpoint: Path,
                         run: RunDir | None) -> FtguiError | None:
    """A RunDirError when resuming from ``checkpoint`` failed because its files cannot be
    read (damaged after it was written) or do not fit the model (the run's model was
    changed since); None for anything else."""
    import pickle
    import zipfile

    from safetensors import SafetensorError
    rd = run or RunDir(checkpoint.parent.parent)
    for e in _chain(exc):
        text = str(e)
        if "size mismatch" in text:
            first = next((ln.strip() for ln in text.splitlines() if "size mismatch" in ln),
                         "size mismatch").rstrip(".")
            return RunDirError(
                f"{rd.config_path}: the model is not the one {checkpoint.name} was trained "
                f"with ({_short(first)}). Put back the model.source (and method) the run "
                f"started with, or start a new run for the new model.", field="model.source")
        if isinstance(e, (pickle.UnpicklingError, zipfile.BadZipFile, EOFError,
                          SafetensorError)) or \
                isinstance(e, RuntimeError) and "PytorchStreamReader" in text:
            # torch's own text for a bad pickle is about weights_only, not the damage
            why = type(e).__name__ if isinstance(e, pickle.UnpicklingError) \
                else _short(first_line(e))
            earlier = [c for c in rd.checkpoints() if c != checkpoint]
            then = (f"from {earlier[-1].name}" if earlier else "from the start (no other "
                    f"checkpoint is complete)")
            return RunDirError(
                f"{checkpoint}: this checkpoint is damaged and cannot be read "
                f"({why}). Delete that folder, then 'ftgui resume "
                f"{rd.path}' continues {then}.", field="training.output_dir")
    return None


def _short(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


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
    return OutOfMemoryError(f"Out of memory on {where} ({first_line(e)}). To need less, "
                            f"try: {advice}. Then start the run again.",
                            field="training.batch_size")
