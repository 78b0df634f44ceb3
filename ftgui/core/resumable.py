"""Whether a run can be resumed, from where, and how to say so: the one rule the Train
tab's Resume button and the History tab's Resume action share. It reads the run folder
(summary, checkpoint files), so the GUI asks it off the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftgui.core.errors import RunDirError
from ftgui.core.runs import RunDir, resumable_checkpoint

# cut off (killed, crashed, disk full): resumable even before the first complete
# checkpoint, when the resume starts again from step 0 in the same folder
FROM_STEP_0 = ("failed", "interrupted")
NOT_RESUMABLE = "Continue a stopped, failed or interrupted run from its last checkpoint"


@dataclass(frozen=True)
class ResumeOption:
    ok: bool
    checkpoint: Path | None
    tip: str   # what Resume would do, or why it cannot


def resume_option(run_dir: str | Path) -> ResumeOption:
    rd = RunDir(run_dir)
    if not rd.is_run():
        return ResumeOption(False, None, NOT_RESUMABLE)
    try:
        checkpoint = resumable_checkpoint(rd.path)   # refuses finished and live runs
    except RunDirError as e:
        return ResumeOption(False, None, e.message)
    if checkpoint is not None:
        return ResumeOption(True, checkpoint,
                            f"Continue {rd.path.name} from {checkpoint.name}")
    status = rd.status()
    if status in FROM_STEP_0:
        return ResumeOption(True, None, f"{rd.path.name} was {status} before its first "
                                        f"complete checkpoint: Resume trains it again from "
                                        f"step 0 in the same folder")
    return ResumeOption(False, None, NOT_RESUMABLE)
