"""What a run measures about itself while it trains, as torchtune's recipes do: the
tokens it trained on and the tokens it processed, and the peak memory.

* tokens processed: every input position the model computed, padding and prompt
  included (what the hardware did);
* tokens trained on: the positions whose next-token loss counts, ``labels != -100``
  after the one-position shift of a causal LM (what the model learned from). For packed
  text blocks the two differ by one per sequence; for SFT by the prompts and padding.
* peak memory: CUDA's maximum allocated bytes on a GPU, else the process's peak resident
  set (on MPS and the CPU the model lives in process memory).

Counted by a forward pre-hook on the model in training mode (evaluation is not counted),
summed over all processes when the counts are read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

IGNORE = -100
SIDECAR = "ftgui_tokens.json"   # the totals at a checkpoint, for a resume to continue from


class TokenCounter:
    def __init__(self, trained: int = 0, processed: int = 0):
        self.trained = trained       # totals over all processes, as of the last sync()
        self.processed = processed
        self._trained = None         # this process's count since then (a device tensor)
        self._processed = 0
        self._handle = None

    def attach(self, model) -> None:
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _count(self, module, args, kwargs):
        if not module.training:
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        labels = kwargs.get("labels")
        if ids is not None:
            self._processed += ids.numel()
        if labels is not None:
            n = (labels[..., 1:] != IGNORE).sum()   # kept on the device: no sync per batch
            self._trained = n if self._trained is None else self._trained + n

    def sync(self, device) -> None:
        """Add every process's counts since the last sync to the totals. All processes
        call it at the same step (it all-reduces)."""
        import torch
        import torch.distributed as dist

        trained = self._trained if self._trained is not None else torch.zeros((), device=device)
        local = torch.stack([trained.to(device=device, dtype=torch.float64),
                             torch.tensor(float(self._processed), device=device,
                                          dtype=torch.float64)])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(local, op=dist.ReduceOp.SUM)
        self.trained += int(local[0].item())
        self.processed += int(local[1].item())
        self._trained, self._processed = None, 0

    def save(self, checkpoint: Path, step: int) -> None:
        checkpoint.mkdir(parents=True, exist_ok=True)
        (checkpoint / SIDECAR).write_text(json.dumps(
            {"step": step, "tokens_trained": self.trained,
             "tokens_processed": self.processed}), encoding="utf-8")

    @classmethod
    def resumed(cls, checkpoint: Path | None) -> "TokenCounter | None":
        """Totals carried on from ``checkpoint`` (zero without one); None when the
        checkpoint does not record them (written before ftgui counted tokens)."""
        if checkpoint is None:
            return cls()
        try:
            raw = json.loads((checkpoint / SIDECAR).read_text(encoding="utf-8"))
            return cls(int(raw["tokens_trained"]), int(raw["tokens_processed"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def peak_memory(device: str) -> tuple[int | None, str]:
    """(bytes, what was measured) so far in this process."""
    if device == "cuda":
        import torch
        return int(torch.cuda.max_memory_allocated()), "CUDA max allocated"
    try:
        import resource
    except ImportError:   # Windows
        try:
            import psutil
            return int(psutil.Process().memory_info().peak_wset), "process peak working set"
        except (ImportError, AttributeError):
            return None, ""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024), "process peak RSS"
