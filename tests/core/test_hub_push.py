"""ftgui export --push against the loopback Hub (tests/hub_server.py): the files and the
model card arrive; an existing repo's files are not replaced without --force; bad ids
and a missing token are refused before anything is written."""

import pytest

from ftgui.cli import main
from hub_fixtures import hub  # noqa: F401


@pytest.fixture
def lora_run(tiny_config, tmp_path):
    from ftgui.core.runner import run_config
    cfg = tiny_config(model={"method": "lora"}, training={"max_steps": 2, "save_steps": 100,
                                                          "output_dir": str(tmp_path / "run")})
    run_config(cfg)
    return tmp_path / "run"


def test_push_adapter_and_merged_with_model_card(hub, lora_run, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "tok-accepted")            # alice
    assert main(["export", str(lora_run), "--format", "adapter", "--push",
                 "alice/tiny-adapter", "--private"]) == 0
    out = capsys.readouterr()
    assert f"Pushed adapter to {hub.url}/alice/tiny-adapter" in out.out
    assert "Uploading to alice/tiny-adapter: " in out.err and " of " in out.err
    repo = hub.repos[("model", "alice/tiny-adapter")]
    assert repo.private and repo.owner_token == "tok-accepted"
    local = {p.relative_to(lora_run / "adapter").as_posix()
             for p in (lora_run / "adapter").rglob("*") if p.is_file()}
    assert local <= set(repo.files) and "README.md" in repo.files
    assert repo.files["adapter_model.safetensors"] == \
        (lora_run / "adapter" / "adapter_model.safetensors").read_bytes()
    card = repo.files["README.md"].decode()
    assert card.startswith("---") and "peft" in card.lower()
    assert ".ftgui-export" not in repo.files
    assert repo.messages == ["Upload adapter of the ftgui run run"]

    # again: the repo holds files now, so --force is needed; nothing is committed
    assert main(["export", str(lora_run), "--format", "adapter", "--push",
                 "alice/tiny-adapter"]) == 2
    assert "already holds" in capsys.readouterr().err and len(repo.messages) == 1
    assert main(["export", str(lora_run), "--format", "merged", "--push",
                 "alice/tiny-adapter", "--force", "--out", str(tmp_path / "merged")]) == 0
    assert len(repo.messages) == 2 and "model.safetensors" in repo.files
    assert (tmp_path / "merged" / "README.md").exists()       # --out keeps a local copy


def test_push_refuses_bad_input_before_exporting(hub, lora_run, monkeypatch, capsys):
    assert main(["export", str(lora_run), "--format", "adapter", "--push", "alice/x"]) == 2
    assert "needs a Hugging Face token" in capsys.readouterr().err
    monkeypatch.setenv("HF_TOKEN", "tok-accepted")
    assert main(["export", str(lora_run), "--format", "adapter", "--push", "no-slash"]) == 2
    assert "not a Hub repo id" in capsys.readouterr().err
    assert main(["export", str(lora_run), "--format", "gguf", "--push", "alice/x"]) == 2
    assert "only the merged and adapter formats" in capsys.readouterr().err
    assert ("model", "alice/x") not in hub.repos
    monkeypatch.setenv("HF_TOKEN", "tok-revoked")
    assert main(["export", str(lora_run), "--format", "adapter", "--push", "alice/x"]) == 2
    assert "refused your token (401)" in capsys.readouterr().err
