"""A small Hugging Face Hub on 127.0.0.1 for the tests: the endpoints ``huggingface_hub``
(checked on 2.4.0) calls, answering as the Hub documents them.

* ``GET /api/models/{id}[/revision/{rev}]``: model info (siblings with sizes, gated,
  private, cardData), ``GET /api/models?search=``: search;
* ``GET /api/models/{id}/tree/{rev}``: the file listing;
* ``HEAD|GET /{id}/resolve/{rev}/{path}``: files, with ``X-Repo-Commit``, ``ETag`` and
  ``Range`` (what ``hf_hub_download`` and ``get_safetensors_metadata`` need); optionally
  throttled, so that a test can cancel a download in the middle of a file;
* errors with ``X-Error-Code``: ``RepoNotFound`` (401 without a token, 404 with one, as
  the Hub answers for missing and private repos), ``GatedRepo`` (401 without a token, 403
  with a token that has not accepted the terms), ``EntryNotFound``, ``RevisionNotFound``,
  and 401 ``Invalid credentials in Authorization header`` for an unknown token;
* ``GET /api/whoami-v2``, ``POST /api/repos/create``, ``POST /api/validate-yaml`` (a
  model card's front matter), ``POST .../preupload/{rev}`` (every file "regular") and
  ``POST .../commit/{rev}`` (ndjson, base64 contents): what ``create_repo`` and
  ``create_commit`` send.

Why not olah: its offline mode answers a missing optional file with 401 (breaking
AutoTokenizer's probes), needs a revision for model info, and has no search, gating or
upload; and its requirements (fastapi-utils) pin psutil below the version the project
locks. This server runs in a thread of the test process: nothing is left running.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class Repo:
    repo_id: str
    files: dict[str, bytes]
    kind: str = "model"                 # model | dataset
    gated: bool | str = False           # False | "auto" | "manual"
    private: bool = False
    owner_token: str | None = None
    accepted: set = field(default_factory=set)   # tokens that accepted the gated terms
    card: dict = field(default_factory=dict)
    commits: int = 1
    messages: list = field(default_factory=list)   # commit summaries, oldest first

    @property
    def sha(self) -> str:
        h = hashlib.sha1(f"{self.repo_id}:{self.commits}".encode())
        for name in sorted(self.files):
            h.update(name.encode() + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LoopbackHub:
    def __init__(self, rate: float | None = None, port: int = 0):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens: dict[str, str] = {}     # token → user name
        self.rate = rate                     # bytes per second for file bodies; None: full speed
        self.requests: list[tuple[str, str]] = []
        self._connections: set = set()       # open keep-alive sockets, closed by stop()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="loopback-hub")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "LoopbackHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        import socket
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self._connections):   # clients' kept-alive connections too
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)

    def add(self, repo_id: str, folder: Path | None = None, files: dict | None = None,
            kind: str = "model", **kw) -> Repo:
        content = dict(files or {})
        if folder is not None:
            for p in sorted(Path(folder).rglob("*")):
                if p.is_file():
                    content[p.relative_to(folder).as_posix()] = p.read_bytes()
        repo = Repo(repo_id, content, kind=kind, **kw)
        self.repos[(kind, repo_id)] = repo
        return repo

    # ---- the handler ----------------------------------------------------------------------
    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def setup(self):
                super().setup()
                hub._connections.add(self.connection)

            def finish(self):
                hub._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def do_HEAD(self):
                self._route("HEAD")

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            # -- helpers
            def _token(self) -> str | None:
                auth = self.headers.get("Authorization", "")
                return auth[7:] if auth.startswith("Bearer ") else None

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
                      content_type: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, obj, status: int = 200, headers: dict | None = None):
                self._send(status, json.dumps(obj).encode(), headers)

            def _error(self, status: int, code: str | None, message: str):
                headers = {"X-Error-Message": message}
                if code:
                    headers["X-Error-Code"] = code
                self._json({"error": message}, status, headers)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _repo(self, kind: str, repo_id: str, files: bool) -> Repo | None:
                """The repo when this request may see it (``files``: its contents),
                else None after answering the error the Hub gives."""
                token = self._token()
                if token is not None and token not in hub.tokens:
                    self._error(401, None, "Invalid credentials in Authorization header")
                    return None
                repo = hub.repos.get((kind, repo_id))
                if repo is None or (repo.private and token != repo.owner_token):
                    self._error(404 if token else 401, "RepoNotFound", "Repository not found")
                    return None
                if files and repo.gated and token not in repo.accepted:
                    if token is None:
                        self._error(401, "GatedRepo", f"Access to model {repo_id} is "
                                    f"restricted. You must have access to it and be "
                                    f"authenticated to access it. Please log in.")
                    else:
                        self._error(403, "GatedRepo", f"Access to model {repo_id} is "
                                    f"restricted and you are not in the authorized list. "
                                    f"Visit {hub.url}/{repo_id} to ask for access.")
                    return None
                return repo

            # -- routes
            def _route(self, method: str):
                url = urlparse(self.path)
                path = unquote(url.path)
                query = parse_qs(url.query)
                hub.requests.append((method, path))
                try:
                    if path == "/api/whoami-v2":
                        return self._whoami()
                    if path == "/api/repos/create" and method == "POST":
                        return self._create()
                    if path == "/api/validate-yaml" and method == "POST":
                        return self._validate_yaml()
                    for kind in ("model", "dataset"):
                        api = f"/api/{kind}s"
                        if path == api and method == "GET":
                            return self._search(kind, query)
                        if path.startswith(api + "/"):
                            return self._api(kind, path[len(api) + 1:], method, query)
                    kind = "dataset" if path.startswith("/datasets/") else "model"
                    rest = path[len("/datasets/"):] if kind == "dataset" else path[1:]
                    if "/resolve/" in rest and method in ("GET", "HEAD"):
                        return self._resolve(kind, rest)
                    self._error(404, None, "Not found")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a cancelled download)

            def _whoami(self):
                token = self._token()
                if token not in hub.tokens:
                    return self._error(401, None, "Invalid credentials in Authorization header")
                self._json({"type": "user", "name": hub.tokens[token], "orgs": [],
                            "auth": {"type": "access_token",
                                     "accessToken": {"displayName": "test", "role": "write"}}})

            def _search(self, kind: str, query: dict):
                words = (query.get("search") or [""])[0].lower()
                limit = int((query.get("limit") or ["1000"])[0])
                out = [self._summary(r) for (k, rid), r in hub.repos.items()
                       if k == kind and words in rid.lower() and not r.private]
                self._json(out[:limit])

            def _summary(self, repo: Repo) -> dict:
                return {"_id": repo.sha[:24], "id": repo.repo_id, "modelId": repo.repo_id,
                        "private": repo.private, "gated": repo.gated, "downloads": 0,
                        "likes": 0, "tags": ["transformers", "safetensors"],
                        "library_name": "transformers", "pipeline_tag": "text-generation",
                        "lastModified": "2026-01-01T00:00:00.000Z",
                        "createdAt": "2026-01-01T00:00:00.000Z"}

            def _split(self, rest: str, marker: str):
                repo_id, _, tail = rest.partition(marker)
                return repo_id, tail

            def _api(self, kind: str, rest: str, method: str, query: dict):
                for marker in ("/revision/", "/tree/", "/preupload/", "/commit/"):
                    if marker in rest:
                        repo_id, tail = self._split(rest, marker)
                        break
                else:
                    repo_id, marker, tail = rest, "", "main"
                if marker in ("/preupload/", "/commit/"):
                    return self._write(kind, repo_id, marker, method)
                found = self._at_revision(kind, repo_id, tail, files=False)
                if found is None:
                    return
                repo, sub = found
                if marker == "/tree/":
                    return self._json([self._entry(repo, name) for name in sorted(repo.files)
                                       if name.startswith(sub)])
                info = self._summary(repo)
                info.update(sha=repo.sha, disabled=False, cardData=dict(repo.card),
                            siblings=[{"rfilename": e["path"], "size": e["size"],
                                       "blobId": e["oid"],
                                       **({"lfs": {"sha256": e["lfs"]["oid"],
                                                   "size": e["size"], "pointerSize": 134}}
                                          if "lfs" in e else {})}
                                      for e in map(lambda n: self._entry(repo, n),
                                                   sorted(repo.files))])
                self._json(info)

            def _at_revision(self, kind: str, repo_id: str, tail: str, files: bool):
                """(repo, the path after the revision), or None once the error is sent."""
                repo = self._repo(kind, repo_id, files=files)
                if repo is None:
                    return None
                rev, _, rest = tail.partition("/")
                if rev not in ("main", repo.sha):
                    self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                    return None
                return repo, rest

            def _entry(self, repo: Repo, name: str) -> dict:
                data = repo.files[name]
                entry = {"type": "file", "oid": _etag(data)[:40], "size": len(data),
                         "path": name}
                if name.endswith(".safetensors"):
                    entry["lfs"] = {"oid": _etag(data), "size": len(data), "pointerSize": 134}
                return entry

            def _resolve(self, kind: str, rest: str):
                repo_id, tail = self._split(rest, "/resolve/")
                found = self._at_revision(kind, repo_id, tail, files=True)
                if found is None:
                    return
                repo, name = found
                if name not in repo.files:
                    return self._error(404, "EntryNotFound", f"{name} does not exist")
                data = repo.files[name]
                headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{_etag(data)}"',
                           "Accept-Ranges": "bytes"}
                start, end, status = 0, len(data) - 1, 200
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    a, _, b = rng[6:].partition("-")
                    start = int(a) if a else 0
                    end = min(int(b), len(data) - 1) if b else len(data) - 1
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                body = data[start:end + 1]
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command == "HEAD":
                    return
                if not hub.rate:
                    self.wfile.write(body)
                    return
                piece = 64 * 1024
                t0 = time.monotonic()
                for i in range(0, len(body), piece):
                    self.wfile.write(body[i:i + piece])
                    wait = (i + piece) / hub.rate - (time.monotonic() - t0)
                    if wait > 0:
                        time.sleep(wait)

            # -- upload
            def _create(self):
                token = self._token()
                if token not in hub.tokens:
                    return self._error(401, None, "Invalid credentials in Authorization header")
                payload = json.loads(self._body() or b"{}")
                name, org = payload["name"], payload.get("organization")
                repo_id = f"{org or hub.tokens[token]}/{name}"
                kind = payload.get("type") or "model"
                url = f"{hub.url}/{repo_id}"
                if (kind, repo_id) in hub.repos:
                    return self._json({"error": "You already created this model repo",
                                       "url": url}, 409)
                hub.add(repo_id, files={}, kind=kind, owner_token=token,
                        private=payload.get("visibility") == "private"
                        or bool(payload.get("private")))
                self._json({"url": url, "name": repo_id})

            def _validate_yaml(self):
                """A model card's metadata (the README's front matter) must be YAML."""
                import yaml
                text = json.loads(self._body()).get("content", "")
                if text.startswith("---"):
                    try:
                        yaml.safe_load(text.split("---")[1])
                    except yaml.YAMLError as e:
                        return self._json({"errors": [{"message": str(e)}]}, 400)
                self._json({"errors": [], "warnings": []})

            def _write(self, kind: str, repo_id: str, marker: str, method: str):
                token = self._token()
                repo = hub.repos.get((kind, repo_id))
                if token not in hub.tokens or repo is None or repo.owner_token != token:
                    return self._error(404 if token in hub.tokens else 401, "RepoNotFound",
                                       "Repository not found")
                body = self._body()
                if marker == "/preupload/":
                    files = json.loads(body)["files"]
                    return self._json({"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                         "oid": None} for f in files]})
                summary = ""
                for line in body.splitlines():
                    item = json.loads(line)
                    if item["key"] == "header":
                        summary = item["value"].get("summary", "")
                    elif item["key"] == "file":
                        repo.files[item["value"]["path"]] = base64.b64decode(
                            item["value"]["content"])
                    elif item["key"] == "deletedFile":
                        repo.files.pop(item["value"]["path"], None)
                repo.commits += 1
                repo.messages.append(summary)
                self._json({"commitUrl": f"{hub.url}/{repo_id}/commit/{repo.sha}",
                            "commitOid": repo.sha, "success": True})

        return Handler
