"""What the Hugging Face cache holds (``scan_cache_dir``: models and datasets, each
revision with its size and last use) and deleting chosen revisions
(``delete_revisions``), for ``ftgui cache`` and the window's cache view. ftgui's own
caches (dequantised GGUF, tokenized data) are model_cache.usage()."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ftgui.core.errors import FtguiError
from ftgui.core.hub import cache_dir
from ftgui.core.memory import human_bytes


@dataclass
class CachedRevision:
    repo_id: str
    repo_type: str        # model | dataset | space
    commit: str
    refs: list[str]
    size: int
    last_used: float      # the repo's last access (seconds since the epoch)
    path: str

    def row(self) -> list[str]:
        return [self.repo_type, self.repo_id, self.commit[:12], ", ".join(self.refs) or "–",
                human_bytes(self.size), ago(self.last_used)]


HEADERS = ["kind", "repo", "revision", "refs", "size", "last used"]


def ago(t: float) -> str:
    s = max(time.time() - t, 0)
    for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if s >= n:
            return f"{s / n:.0f} {unit} ago"
    return "just now"


def list_cached() -> list[CachedRevision]:
    """Every cached revision, largest first. An unreadable or missing cache: []."""
    from huggingface_hub import scan_cache_dir
    folder = cache_dir()
    if not folder.is_dir():
        return []
    info = scan_cache_dir(folder)
    out = [CachedRevision(repo.repo_id, repo.repo_type, rev.commit_hash, sorted(rev.refs),
                          rev.size_on_disk, repo.last_accessed, str(rev.snapshot_path))
           for repo in info.repos for rev in repo.revisions]
    return sorted(out, key=lambda r: -r.size)


def select(wanted: list[str]) -> list[CachedRevision]:
    """The revisions named by commit hashes (or a prefix of 6+) or repo ids (all their
    revisions). Something not in the cache: a FtguiError naming it, before anything goes."""
    cached = list_cached()
    chosen: list[CachedRevision] = []
    for w in wanted:
        hits = [r for r in cached if r.repo_id == w
                or (len(w) >= 6 and r.commit.startswith(w))]
        if not hits:
            raise FtguiError(f"--delete: '{w}' is not in the Hugging Face cache "
                             f"({cache_dir()}); `ftgui cache` lists what is.")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def delete(revisions: list[CachedRevision]) -> int:
    """Delete these revisions (blobs no other revision uses go too). Bytes freed."""
    from huggingface_hub import scan_cache_dir
    if not revisions:
        return 0
    strategy = scan_cache_dir(cache_dir()).delete_revisions(*[r.commit for r in revisions])
    freed = strategy.expected_freed_size
    strategy.execute()
    return freed


def table(revisions: list[CachedRevision]) -> str:
    rows = [HEADERS] + [r.row() for r in revisions]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
