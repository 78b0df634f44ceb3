"""Publish an exported folder (merged model or adapter, with its model card) to a Hub
repo, on huggingface_hub's public API: ``create_repo``, ``preupload_lfs_files`` file by
file (so that progress follows the bytes sent), then one ``create_commit``.

An existing repo that already holds files is not written to without ``force``: pushing
would replace its files (the Hub keeps the history, the person may not expect that)."""

from __future__ import annotations

import re
from pathlib import Path

from ftgui.core import hub
from ftgui.core.errors import FtguiError
from ftgui.core.events import Progress
from ftgui.core.wording import first_line

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
SKIP = (".ftgui-export",)     # export bookkeeping, not part of the model


class PushError(FtguiError):
    """The push cannot go ahead as asked."""


def check_repo_id(repo_id: str) -> None:
    """Bad input before any work: the id's shape and a token to push with."""
    if not REPO_ID.match(repo_id or "") or "--" in repo_id or ".." in repo_id:
        raise PushError(f"--push: '{repo_id}' is not a Hub repo id; write ORG/NAME (or "
                        f"USER/NAME): letters, digits, '-', '_', '.'.")
    if hub.token() is None:
        raise PushError(f"--push: pushing needs a Hugging Face token with write access; "
                        f"sign in first ({hub.SIGN_IN}) or set HF_TOKEN.")


def existing_files(repo_id: str) -> list[str] | None:
    """The files of ``repo_id`` on the Hub, or None when there is no such repo (that the
    token can see)."""
    from huggingface_hub import errors as hf
    try:
        info = hub.api().model_info(repo_id)
    except hf.RepositoryNotFoundError:
        return None
    except Exception as e:  # noqa: BLE001
        raise _error(e, repo_id) from e
    return [s.rfilename for s in info.siblings or []]


def preflight(repo_id: str, force: bool = False) -> list[str] | None:
    """Everything that can refuse a push, checked before an export is written: the id,
    the token, and a repo that already holds files (without ``force``). Returns the
    repo's files, None when it does not exist yet."""
    check_repo_id(repo_id)
    there = existing_files(repo_id)
    held = sorted(set(there or ()) - {".gitattributes"})
    if held and not force:
        raise PushError(f"--push: {repo_id} already holds {len(held)} file(s) "
                        f"({', '.join(held[:3])}{' …' if len(held) > 3 else ''}); pushing "
                        f"would replace them. Push to a new name, or replace them with "
                        f"--force (the Hub keeps the old versions in the repo's history).")
    return there


def push(folder: str | Path, repo_id: str, *, private: bool = False, force: bool = False,
         message: str = "Upload from ftgui", progress=None) -> str:
    """Upload every file of ``folder`` to ``repo_id`` in one commit; returns its URL."""
    from huggingface_hub import CommitOperationAdd

    there = preflight(repo_id, force)
    folder = Path(folder)
    emit = progress or (lambda p: None)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in SKIP)
    api = hub.api()
    total = sum(p.stat().st_size for p in files)
    stage = f"Uploading to {repo_id}"
    try:
        if there is None:
            api.create_repo(repo_id, private=private, exist_ok=True)
        ops, done = [], 0
        for p in files:
            op = CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(),
                                    path_or_fileobj=str(p))
            emit(Progress(stage, done, total, p.name, unit="bytes"))
            api.preupload_lfs_files(repo_id, [op])
            ops.append(op)
            done += p.stat().st_size
        emit(Progress(stage, done, total, "committing", unit="bytes"))
        api.create_commit(repo_id, ops, commit_message=message)
    except FtguiError:
        raise
    except Exception as e:  # noqa: BLE001
        raise _error(e, repo_id) from e
    emit(Progress(stage, total, total, "done", unit="bytes"))
    return hub.repo_url(repo_id)


def _error(e: BaseException, repo_id: str) -> FtguiError:
    known = hub.explain(e, repo_id)
    if known is not None:
        return PushError(known.message.replace("model.source: ", "--push: ", 1))
    return PushError(f"--push: uploading to {repo_id} failed ({first_line(e)}). Nothing "
                     f"was committed; push again.")
