"""The Hugging Face Hub, on ``huggingface_hub``'s public API (checked on 2.4.0).

* ``size_up``: what a repo id is before anything large is fetched: exists / gated /
  private, license, architecture and parameter count (config.json and the safetensors
  headers, read with ranged requests), the bytes loading will download, what is cached;
* ``download``: fetch exactly the files loading reads (``load_files``), reporting bytes,
  speed, ETA and file through a ``Progress`` event, stoppable through an Event;
* ``explain``: one line a person can act on for each Hub failure (401 token refused,
  403, 404 / private, gated with the URL where the license is accepted, offline).

The endpoint, the cache folder and offline mode are read from the environment on every
call (HF_ENDPOINT, HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE), not from the values
``huggingface_hub`` fixed when it was imported, so that they follow the caller's
settings. The token is ``huggingface_hub``'s own (HF_TOKEN or its token file): ftgui
never stores one.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from ftgui.core.errors import DataError, FtguiError, ModelError
from ftgui.core.events import Progress
from ftgui.core.memory import human_bytes
from ftgui.core.wording import duration, first_line

# what from_pretrained reads for a causal LM and its tokenizer, top-level files only: no
# .bin / .pt / onnx / gguf duplicates of the safetensors weights
LOAD_PATTERNS = ("*.safetensors", "model.safetensors.index.json", "config.json",
                 "generation_config.json", "tokenizer*", "special_tokens_map.json",
                 "vocab.json", "vocab.txt", "merges.txt", "added_tokens.json",
                 "chat_template.json", "chat_template.jinja")
PICKLE_PATTERNS = ("pytorch_model*.bin", "pytorch_model.bin.index.json")
SIGN_IN = "Help ▸ Hugging Face sign-in, or `hf auth login`"


class DownloadCancelled(FtguiError):
    """The person stopped a download; finished files stay in the cache."""


def endpoint() -> str:
    from huggingface_hub import constants
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    from huggingface_hub import constants
    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def api():
    from huggingface_hub import HfApi
    return HfApi(endpoint=endpoint())


def repo_url(repo_id: str) -> str:
    return f"{endpoint()}/{repo_id}"


# ---- errors ---------------------------------------------------------------------------
def explain(exc: BaseException, repo_id: str, what: str = "model") -> FtguiError | None:
    """The one line for a Hub failure, or None when ``exc`` is not one. The exceptions
    it was raised from count too (datasets wraps the Hub's GatedRepoError in its own
    DatasetNotFoundError)."""
    for e in _chain(exc):
        known = _explain_one(e, repo_id, what)
        if known is not None:
            return known
    return None


def _chain(exc: BaseException | None):
    """``exc`` and the exceptions it was raised from or during, newest first."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def gated_error(repo_id: str, what: str = "model") -> FtguiError:
    field_ = "model.source" if what == "model" else "data.source"
    cls = ModelError if what == "model" else DataError
    how = ("you are signed in, but your account has not been granted access yet"
           if token() is not None else f"then sign in ({SIGN_IN})")
    return cls(f"{field_}: '{repo_id}' is gated: accept its license at "
               f"{repo_url(repo_id)} ({how}).", field=field_)


def dataset_access_error(repo_id: str) -> FtguiError | None:
    """Why a Hub dataset could not be read, asked of the Hub's dataset info (datasets
    wraps some Hub refusals so that their kind is lost): gated, missing, private, token,
    offline; None when the info shows nothing in the way."""
    try:
        d = dataset_size_up(repo_id)
    except FtguiError as e:
        return e
    return gated_error(repo_id, "dataset") if d.gated else None


def _explain_one(exc: BaseException, repo_id: str, what: str) -> FtguiError | None:
    from huggingface_hub import errors as hf

    field_ = "model.source" if what == "model" else "data.source"
    cls = ModelError if what == "model" else DataError
    status = getattr(getattr(exc, "response", None), "status_code", None)
    signed_in = token() is not None
    if isinstance(exc, hf.GatedRepoError):
        return gated_error(repo_id, what)
    if isinstance(exc, hf.RevisionNotFoundError):
        return cls(f"{field_}: '{repo_id}' has no such revision on the Hub.",
                          field=field_)
    if isinstance(exc, hf.RepositoryNotFoundError):
        who = ("your account cannot see it" if signed_in
               else f"it is private and you are not signed in ({SIGN_IN})")
        return cls(f"{field_}: no {what} '{repo_id}' on the Hugging Face Hub "
                          f"({status or 404}), or {who}. Check the id.", field=field_)
    if isinstance(exc, hf.HfHubHTTPError) and status == 401:
        return cls(f"{field_}: the Hugging Face Hub refused your token (401): it "
                          f"was revoked or mistyped. Sign in again ({SIGN_IN}).",
                          field=field_)
    if isinstance(exc, hf.HfHubHTTPError) and status == 403:
        return cls(f"{field_}: your token may not read '{repo_id}' (403). A "
                          f"fine-grained token needs read access to it; make a new token "
                          f"and sign in again ({SIGN_IN}).", field=field_)
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return cls(f"{field_}: '{repo_id}' lacks a file loading needs "
                          f"({first_line(exc, 120)}).", field=field_)
    if _is_offline_error(exc):
        why = ("HF_HUB_OFFLINE is set" if offline()
               else f"the Hub cannot be reached ({first_line(exc, 80)})")
        return cls(f"{field_}: '{repo_id}' is not in the Hugging Face cache and {why}. "
                          f"Connect to the internet, or pick a cached {what} (`ftgui cache` "
                          f"lists them).", field=field_)
    return None


def _is_offline_error(exc: BaseException) -> bool:
    from huggingface_hub import errors as hf
    if isinstance(exc, (hf.OfflineModeIsEnabled, hf.LocalEntryNotFoundError)):
        return True
    return any(type(e).__name__ in ("ConnectError", "ConnectTimeout", "TimeoutException",
                                    "ReadTimeout", "NetworkError", "ConnectionError")
               for e in _chain(exc))   # httpx2's connect / timeout errors


def token() -> str | None:
    """The token huggingface_hub would send (HF_TOKEN, else its token file), or None."""
    from huggingface_hub import get_token
    return get_token()


# ---- what loading fetches ---------------------------------------------------------------
def load_files(names: list[str], allow_pickle: bool = False) -> list[str]:
    """The top-level files from_pretrained reads, out of a repo's file list. Pickle
    weights only when there are no safetensors and ``allow_pickle`` is on."""
    top = [n for n in names if "/" not in n]
    patterns = list(LOAD_PATTERNS)
    if allow_pickle and not any(n.endswith(".safetensors") for n in top):
        patterns += PICKLE_PATTERNS
    wanted = [n for n in top if any(fnmatch.fnmatch(n, p) for p in patterns)]
    # transformers reads model.safetensors, or the model-*-of-* shards of the index; other
    # safetensors beside them (Mistral's consolidated.safetensors) are copies
    if "model.safetensors.index.json" in top:
        keep = lambda n: n.startswith("model-")  # noqa: E731
    elif "model.safetensors" in top:
        keep = lambda n: n == "model.safetensors"  # noqa: E731
    else:
        keep = lambda n: True  # noqa: E731
    return [n for n in wanted if not n.endswith(".safetensors") or keep(n)]


def cached_file(repo_id: str, name: str, revision: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache
    found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir(), revision=revision)
    return Path(found) if isinstance(found, str) else None


@dataclass
class SizeUp:
    repo_id: str
    sha: str = ""
    gated: bool | str = False
    private: bool = False
    license: str | None = None
    access: str = "ok"                   # ok | gated (no access yet)
    access_note: str = ""                # the line to show when access is not ok
    architecture: str | None = None
    model_type: str | None = None
    params: int | None = None            # from the safetensors headers
    files: list[tuple[str, int]] = field(default_factory=list)   # what loading fetches
    cached: list[str] = field(default_factory=list)              # of those, in the cache
    config: dict | None = None
    from_cache_only: bool = False        # offline: everything came from the cache

    @property
    def download_bytes(self) -> int:
        return sum(s for n, s in self.files if n not in self.cached)

    @property
    def total_bytes(self) -> int:
        return sum(s for _, s in self.files)

    def hf_config(self):
        """The config as attributes (what memory.shape_from_config reads)."""
        def ns(d):
            return SimpleNamespace(**{k: ns(v) if isinstance(v, dict) else v
                                      for k, v in d.items()})
        return ns(self.config or {})

    def lines(self, architecture: bool = True) -> list[str]:
        """What a person reads, one fact a line (``architecture`` False: without the
        architecture and parameters, for a place that shows them already)."""
        state = ("private" if self.private else "public") + (
            f", gated ({self.gated})" if self.gated else "")
        out = [f"{self.repo_id}: {state}, license {self.license or 'not stated'}"]
        if self.access_note:
            out.append(self.access_note)
        if self.architecture and architecture:
            out.append(f"{self.architecture} ({self.model_type})"
                       + (f", {self.params:,} parameters" if self.params else ""))
        if self.from_cache_only:
            out.append(f"offline: {len(self.cached)} files in the cache "
                       f"({human_bytes(self.total_bytes)})")
        elif self.files:
            left = self.download_bytes
            out.append(f"download {human_bytes(left)} of {human_bytes(self.total_bytes)} "
                       f"({len(self.files) - len(self.cached)} of {len(self.files)} files; "
                       f"{len(self.cached)} cached)" if self.cached and left
                       else f"all {len(self.files)} files cached "
                            f"({human_bytes(self.total_bytes)})" if not left
                       else f"download {human_bytes(left)} ({len(self.files)} files)")
        return out


def size_up(repo_id: str, allow_pickle: bool = False) -> SizeUp:
    """Size up a Hub model without downloading its weights (config.json, a few KB, is
    fetched into the cache). Raises the ``explain`` error when the repo cannot be read;
    a gated repo without access comes back with ``access == "gated"``."""
    import json

    if offline():
        return _size_up_cached(repo_id, allow_pickle)
    hub = api()
    try:
        info = hub.model_info(repo_id, files_metadata=True)
    except Exception as e:  # noqa: BLE001 - explain() sorts out what it was
        raise explain(e, repo_id) or ModelError(
            f"model.source: could not read '{repo_id}' on the Hub ({first_line(e)}).",
            field="model.source") from e
    card = info.card_data.to_dict() if info.card_data else {}
    names = [s.rfilename for s in info.siblings or []]
    sizes = {s.rfilename: int(s.size or 0) for s in info.siblings or []}
    wanted = load_files(names, allow_pickle)
    out = SizeUp(repo_id, info.sha or "", info.gated or False, bool(info.private),
                 card.get("license"), files=[(n, sizes[n]) for n in wanted])
    out.cached = [n for n in wanted if cached_file(repo_id, n, out.sha)]
    if "config.json" not in names:
        out.access_note = f"'{repo_id}' has no config.json: not a transformers model"
        return out
    from huggingface_hub import hf_hub_download
    try:
        path = hf_hub_download(repo_id, "config.json",   # by branch: records refs/main
                               cache_dir=cache_dir(), endpoint=endpoint())
        out.config = json.loads(Path(path).read_text(encoding="utf-8"))
        meta = hub.get_safetensors_metadata(repo_id, revision=out.sha)
        out.params = sum(meta.parameter_count.values()) or None
    except Exception as e:  # noqa: BLE001
        from huggingface_hub import errors as hf
        err = explain(e, repo_id)
        if isinstance(e, hf.GatedRepoError):
            out.access, out.access_note = "gated", err.message.split(": ", 1)[1]
        elif isinstance(e, hf.NotASafetensorsRepoError):
            pass    # pickle weights only: no parameter count without loading them
        else:
            raise (err or ModelError(f"model.source: could not read '{repo_id}' on the "
                                     f"Hub ({first_line(e)}).", field="model.source")) from e
    if out.config:
        out.model_type = out.config.get("model_type")
        out.architecture = (out.config.get("architectures") or [out.model_type])[0]
    if "config.json" in wanted and "config.json" not in out.cached:
        out.cached.append("config.json")   # size_up fetched it just now
    return out


@dataclass
class DatasetSizeUp:
    repo_id: str
    gated: bool | str = False
    private: bool = False
    license: str | None = None
    configs: dict[str, list[str]] = field(default_factory=dict)   # config → its splits
    size: int = 0                                                  # bytes of its files

    def lines(self) -> list[str]:
        state = ("private" if self.private else "public") + (
            f", gated ({self.gated})" if self.gated else "")
        out = [f"{self.repo_id}: {state}, license {self.license or 'not stated'}, "
               f"{human_bytes(self.size)}"]
        for name, splits in self.configs.items():
            out.append(f"config {name}: {', '.join(splits) or 'splits not stated'}")
        return out


def dataset_size_up(repo_id: str) -> DatasetSizeUp:
    """A Hub dataset's access, license, size and its configs with their splits, from
    the Hub's dataset info (its card's ``configs`` / ``dataset_info``); no data fetched."""
    if offline():
        raise DataError(f"data.source: HF_HUB_OFFLINE is set; the Hub's information on "
                         f"'{repo_id}' cannot be read (a cached copy still loads).",
                         field="data.source")
    try:
        info = api().dataset_info(repo_id, files_metadata=True)
    except Exception as e:  # noqa: BLE001
        raise explain(e, repo_id, "dataset") or DataError(
            f"data.source: could not read the dataset '{repo_id}' on the Hub "
            f"({first_line(e)}).", field="data.source") from e
    card = info.card_data.to_dict() if info.card_data else {}
    configs: dict[str, list[str]] = {}
    for c in card.get("configs") or []:
        files = c.get("data_files")
        splits = ([f["split"] for f in files if isinstance(f, dict) and "split" in f]
                  if isinstance(files, list) else [])
        configs[c.get("config_name", "default")] = splits or ["train"]
    described = card.get("dataset_info") or []
    for d in [described] if isinstance(described, dict) else described:
        names = [sp["name"] for sp in d.get("splits") or [] if "name" in sp]
        configs.setdefault(d.get("config_name", "default"), names)
    return DatasetSizeUp(repo_id, info.gated or False, bool(info.private),
                         card.get("license"), configs,
                         sum(int(s.size or 0) for s in info.siblings or []))


@dataclass
class FirstRows:
    """A streamed preview: the first rows of a Hub dataset's split."""
    rows: list[dict]


def dataset_first_rows(repo_id: str, config: str | None, split: str, n: int = 20
                       ) -> list[dict]:
    """The first ``n`` rows of a Hub dataset's split, streamed (``datasets``'
    ``streaming=True``): nothing is downloaded beyond what those rows need."""
    import itertools

    import datasets
    try:
        ds = datasets.load_dataset(repo_id, config or None, split=split, streaming=True)
        return list(itertools.islice(ds, n))
    except Exception as e:  # noqa: BLE001
        raise explain(e, repo_id, "dataset") or DataError(
            f"data.source: could not stream the first rows of '{repo_id}'"
            f"{' (' + config + ')' if config else ''} split '{split}' ({first_line(e)}).",
            field="data.source") from e


def _size_up_cached(repo_id: str, allow_pickle: bool) -> SizeUp:
    import json
    snap = cached_snapshot(repo_id)
    if snap is None:
        raise ModelError(f"model.source: '{repo_id}' is not in the Hugging Face cache and "
                         f"HF_HUB_OFFLINE is set. Connect to the internet and unset it, or "
                         f"pick a cached model (`ftgui cache` lists them).",
                         field="model.source")
    names = [p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()]
    wanted = load_files(names, allow_pickle)
    out = SizeUp(repo_id, snap.name, files=[(n, (snap / n).stat().st_size) for n in wanted],
                 cached=list(wanted), from_cache_only=True)
    if (snap / "config.json").exists():
        out.config = json.loads((snap / "config.json").read_text(encoding="utf-8"))
        out.model_type = out.config.get("model_type")
        out.architecture = (out.config.get("architectures") or [out.model_type])[0]
    return out


def local_copy(repo_id: str, need: str = "weights") -> Path | None:
    """The cached snapshot of a Hub model when it holds its config and what is needed:
    ``weights`` (what the download stage leaves), ``tokenizer`` or just the ``config``
    (what the size-up leaves); else None. Loading then reads this folder, not the network."""
    snap = cached_snapshot(repo_id)
    if snap is None or not (snap / "config.json").exists():
        return None
    if need == "weights":
        ok = any(snap.glob("*.safetensors")) or any(snap.glob("pytorch_model*.bin"))
    elif need == "tokenizer":
        ok = (snap / "tokenizer_config.json").exists() or (snap / "tokenizer.json").exists()
    else:
        ok = True
    return snap if ok else None


def cached_repo_ids(repo_type: str = "model") -> list[str]:
    """Ids of the repos in the Hugging Face cache (folder names only: fast, no network),
    for completing the model field."""
    prefix = f"{repo_type}s--"
    try:
        names = os.listdir(cache_dir())
    except OSError:
        return []
    return sorted(n[len(prefix):].replace("--", "/", 1) for n in names if n.startswith(prefix))


def cached_snapshot(repo_id: str, repo_type: str = "model") -> Path | None:
    """The newest cached snapshot folder of a repo that holds a config.json (model) or
    any file (dataset), or None."""
    folder = cache_dir() / f"{repo_type}s--{repo_id.replace('/', '--')}"
    ref = folder / "refs" / "main"
    snaps = folder / "snapshots"
    if ref.exists() and (snaps / ref.read_text().strip()).is_dir():
        return snaps / ref.read_text().strip()
    if snaps.is_dir():
        found = sorted((p for p in snaps.iterdir() if p.is_dir()),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        return found[0] if found else None
    return None


# ---- download -------------------------------------------------------------------------
class _Meter:
    """Bytes, speed and ETA of one download, reported as Progress events at most every
    ``interval`` seconds, and the place a Cancel takes effect (between chunks)."""

    def __init__(self, repo_id: str, total: int, done: int, sink, cancel, interval=0.25):
        self.repo_id, self.total, self.done = repo_id, total, done
        self.sink, self.cancel, self.interval = sink, cancel, interval
        self.file = ""
        self.t0 = time.monotonic()
        self.start_done = done
        self.last = 0.0

    def add(self, n: int) -> None:
        self.done += n
        if self.cancel is not None and self.cancel.is_set():
            raise DownloadCancelled(f"Download of '{self.repo_id}' cancelled. The files "
                                    f"finished are kept in the cache; the next start "
                                    f"fetches only the rest.")
        now = time.monotonic()
        if now - self.last >= self.interval or self.done >= self.total:
            self.last = now
            self.report()

    def report(self) -> None:
        if self.sink is None:
            return
        elapsed = time.monotonic() - self.t0
        speed = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / speed if speed > 0 else None
        detail = (f"{self.file} · {human_bytes(speed)}/s · "
                  f"{duration(eta) + ' left' if eta is not None else 'starting'}")
        self.sink(Progress(f"Downloading {self.repo_id}", self.done, self.total, detail,
                           unit="bytes"))


def progress_text(p: Progress, short: bool = False) -> str:
    """'12.0 MB of 30.0 MB · model.safetensors · 3.1 MB/s · 6 s left' for a download's
    Progress event (the CLI's line, the window's), ``short``: '12.0 MB of 30.0 MB'."""
    head = f"{human_bytes(p.current)} of {human_bytes(p.total)}"
    return f"{head} · {p.detail}" if p.detail and not short else head


def _tqdm_for(meter: _Meter, name: str):
    """A tqdm look-alike for hf_hub_download's ``tqdm_class`` (what it calls: update,
    close, context manager)."""
    class Bar:
        def __init__(self, *args, **kwargs):
            meter.file = name

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            if n:
                meter.add(int(n))

        def close(self):
            pass

        def set_description(self, *a, **k):
            pass

        set_postfix_str = refresh = set_description
    return Bar


def download(repo_id: str, sink=None, cancel: threading.Event | None = None,
             allow_pickle: bool = False) -> Path:
    """Fetch what loading reads into the Hugging Face cache and return the snapshot
    folder. Files already there are not fetched again. Offline (HF_HUB_OFFLINE) a
    cached snapshot is returned, an uncached id raises one clear line."""
    from huggingface_hub import hf_hub_download

    if offline():
        snap = cached_snapshot(repo_id)
        if snap is None or not (snap / "config.json").exists():
            _size_up_cached(repo_id, allow_pickle)   # raises the offline line
            raise ModelError(f"model.source: the cached copy of '{repo_id}' is incomplete "
                             f"and HF_HUB_OFFLINE is set.", field="model.source")
        return snap
    try:
        info = api().model_info(repo_id, files_metadata=True)
    except Exception as e:  # noqa: BLE001
        snap = cached_snapshot(repo_id)
        if _is_offline_error(e) and snap is not None and (snap / "config.json").exists():
            return snap   # no network, but a cached copy: load that
        raise explain(e, repo_id) or ModelError(
            f"model.source: could not read '{repo_id}' on the Hub ({first_line(e)}).",
            field="model.source") from e
    sizes = {s.rfilename: int(s.size or 0) for s in info.siblings or []}
    wanted = load_files(list(sizes), allow_pickle)
    if not any(n.endswith((".safetensors", ".bin")) for n in wanted):
        hint = (" It only has pickle weights (.bin): turn on model.allow_pickle if you trust "
                "its origin." if any(n.endswith(".bin") for n in sizes) else "")
        raise ModelError(f"model.source: '{repo_id}' has no safetensors weights ftgui can "
                         f"load.{hint}", field="model.source")
    todo = [n for n in wanted if not cached_file(repo_id, n, info.sha)]
    total = sum(sizes[n] for n in wanted)
    meter = _Meter(repo_id, total, total - sum(sizes[n] for n in todo), sink, cancel)
    meter.report()
    snap = None
    # config.json first, asked for by branch: that records refs/main → this commit in the
    # cache, which is how local_copy() (and huggingface_hub offline) find the snapshot
    for name in sorted(wanted, key=lambda n: n != "config.json"):
        try:
            rev = None if name == "config.json" else info.sha
            path = hf_hub_download(repo_id, name, revision=rev, cache_dir=cache_dir(),
                                   endpoint=endpoint(), tqdm_class=_tqdm_for(meter, name))
        except FtguiError:
            raise
        except Exception as e:  # noqa: BLE001
            raise explain(e, repo_id) or ModelError(
                f"model.source: downloading {name} of '{repo_id}' failed "
                f"({first_line(e)}). Start again: finished files are kept.",
                field="model.source") from e
        snap = Path(path).parent
    meter.done = total
    meter.report()
    return snap
