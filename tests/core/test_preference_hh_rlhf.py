"""Anthropic hh-rlhf's string pairs ("\\n\\nHuman: …\\n\\nAssistant: …" transcripts in
chosen and rejected, no prompt column): read as messages with the shared turns as the
prompt, trained as DPO with zero configuration, shown as a pair by `ftgui data`, and a row
that shares no turn up to an Assistant answer refused naming its line."""

import gzip
import json
import shutil

import pytest
import yaml

from ftgui.cli import main
from ftgui.core import preference_data as pd
from ftgui.core.config import DataConfig
from ftgui.core.runs import RunDir
from tiny_model import FIXTURES

HH = FIXTURES / "preference" / "hh_rlhf.jsonl"
H, A = "\n\nHuman: ", "\n\nAssistant: "


def read(path):
    return pd.read(DataConfig(source=str(path), validation=None), seed=1)


def write(tmp_path, rows):
    p = tmp_path / "hh.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_transcripts_become_messages_with_the_shared_turns_as_prompt(tmp_path):
    gz = tmp_path / "train.jsonl.gz"           # as hh-rlhf publishes it
    gz.write_bytes(gzip.compress(HH.read_bytes()))
    reading, train, _, _ = read(gz)
    assert reading.kind == "paired" and reading.transcript
    assert reading.columns == {"chosen": "chosen", "rejected": "rejected"}
    assert "Human: / Assistant:" in reading.prompt_from
    assert len(train) == 10
    ex = train[1]
    assert ex["prompt"] == [
        {"role": "user", "content": "What’s a good name for a grey cat?"},
        {"role": "assistant", "content": "How about Smokey, Ash or Pebble?"},
        {"role": "user", "content": "I like Pebble. Anything else?"}]
    assert ex["chosen"] == [{"role": "assistant",
                             "content": "You could also try Misty, Slate or Dusty."}]
    assert ex["rejected"] == [{"role": "assistant", "content": "No, that’s all I have."}]


def test_answers_that_begin_alike_are_whole_answers(tmp_path):
    """The shared text runs past "Assistant: " into the answers; the prompt stops at the
    turn, not in the middle of a word."""
    p = write(tmp_path, [{"chosen": H + "Is it cold?" + A + "It is about 2 degrees.",
                          "rejected": H + "Is it cold?" + A + "It is warm."}])
    (ex,) = read(p)[1]
    assert ex["prompt"] == [{"role": "user", "content": "Is it cold?"}]
    assert ex["chosen"][0]["content"] == "It is about 2 degrees."
    assert ex["rejected"][0]["content"] == "It is warm."


def test_trains_as_dpo_with_zero_configuration(tmp_path, tiny_model_dir, capsys):
    data = shutil.copy(HH, tmp_path / "hh_rlhf.jsonl")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"model": {"source": str(tiny_model_dir)},
                                    "data": {"source": str(data)}}))
    assert main(["train", str(path)]) == 0
    err = capsys.readouterr().err
    assert "Guessed training.objective: dpo" in err
    assert "Prompt: the turns chosen and rejected share" in err
    # the console's validation lines give TRL's rewards, not a DPO loss's "perplexity"
    evals = [ln for ln in err.splitlines() if ln.startswith("validation at step")]
    assert len(evals) == 2 and all("reward accuracy" in ln and "margin" in ln and
                                   "perplexity" not in ln for ln in evals)
    from ftgui.core.runs import default_runs_dir
    (folder,) = [p for p in default_runs_dir().iterdir() if p.is_dir()]
    rd = RunDir(folder)
    s = rd.summary()
    assert s["status"] == "finished" and s["objective"] == "dpo"
    # 9 training pairs (1 held out) at the default batch of 8: 2 steps
    assert s["steps"] == s["total_steps"] == 2
    assert 0 <= s["preference_accuracy_before"] <= 1 and "preference_margin_after" in s


def test_ftgui_data_shows_a_pair(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["data", str(HH), "--model", str(tiny_model_dir), "--example", "2"]) == 0
    out = capsys.readouterr().out
    assert "Data format: preference (detected); columns: chosen = chosen, rejected = " \
           "rejected." in out
    assert "Prompt: the turns chosen and rejected share, up to their last Assistant turn" \
           in out
    assert "Objective: dpo (guessed from the file" in out
    assert out.count("I like Pebble. Anything else?") == 1
    example = out[out.index("\nExample 2"):]
    assert "Human:" not in example   # read as messages, rendered by the chat template
    assert "### User:\nI like Pebble. Anything else?" in example
    side = [ln for ln in out.splitlines() if " | " in ln]
    assert side[0].startswith("--- chosen") and "--- rejected" in side[0]
    assert "[train]You could also try Misty, Slate or" in side[1]
    assert "[train]No, that’s all I have." in side[1]


@pytest.mark.parametrize("bad, message", [
    ({"chosen": H + "Hi?" + A + "Hello.", "rejected": H + "Hey?" + A + "Hello."},
     "row 2: chosen and rejected share no conversation up to an Assistant turn (they "
     "differ in a Human turn)"),
    ({"chosen": H + "Hi?" + A + "Hello." + H + "Tea?" + A + "Yes.",
      "rejected": H + "Hi?" + A + "Hello." + H + "Coffee?" + A + "No."},
     "row 2: chosen and rejected share no conversation up to an Assistant turn"),
    ({"chosen": "Hello.", "rejected": H + "Hi?" + A + "Hello."},
     "row 2: column 'chosen' is not a \"Human: … Assistant: …\" conversation"),
])
def test_a_row_without_a_shared_prompt_is_refused_naming_it(tmp_path, tiny_model_dir, capsys,
                                                             bad, message):
    good = {"chosen": H + "Is it cold?" + A + "Yes.", "rejected": H + "Is it cold?" + A + "No."}
    p = write(tmp_path, [good, bad, good])
    assert main(["data", str(p), "--model", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
