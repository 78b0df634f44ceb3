"""Preference files read as published (TRL, LLaMA-Factory, OpenAI, Stack Exchange) into
TRL's conversational format, cut from the prompt side; the objective guessed from the
file, mismatches refused naming training.objective before any weights load."""

import json
import shutil

import pytest
import yaml

from tiny_model import FIXTURES, TOKENIZER_DIR
from ftgui.cli import main
from ftgui.core import preference_data as pd, sft
from ftgui.core.config import DataConfig
from ftgui.core.errors import DataError
from ftgui.core.runs import RunDir

P = FIXTURES / "preference"
F = FIXTURES / "formats"


@pytest.fixture
def tok():
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    sft.prepare_tokenizer(t, "auto")
    return t


def read(path, **kw):
    return pd.read(DataConfig(source=str(path), validation=None, **kw), seed=1)


def write(tmp_path, rows, name="p.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


U = {"role": "user", "content": "Hi?"}


def A(text):
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize("row", [
    {"prompt": "Hi?", "chosen": "Yes.", "rejected": "No."},                       # TRL std
    {"prompt": [U], "chosen": [A("Yes.")], "rejected": [A("No.")]},              # TRL conv
    {"chosen": [U, A("Yes.")], "rejected": [U, A("No.")]},                       # implicit
    {"conversations": [{"from": "human", "value": "Hi?"}],                       # LLaMA-F.
     "chosen": {"from": "gpt", "value": "Yes."}, "rejected": {"from": "gpt", "value": "No."}},
    {"chosen_messages": [{"role": "user", "content": [{"type": "text", "value": "Hi?"}]},
                         {"role": "assistant", "content": [{"type": "text", "value": "Yes."}]}],
     "rejected_messages": [{"role": "user", "content": [{"type": "text", "value": "Hi?"}]},
                           {"role": "assistant", "content": "No."}]},          # LLaMA-F. v1
    {"input": {"messages": [U]}, "preferred_output": [A("Yes.")],
     "non_preferred_output": [A("No.")]},                                         # OpenAI
    {"question": "Hi?", "response_j": "Yes.", "response_k": "No."},               # StackEx.
    {"prompt": "Hi?", "prompt_id": "abc", "chosen": [U, A("Yes.")],              # UltraFeedb.
     "rejected": [U, A("No.")]},
])
def test_every_paired_shape_becomes_trl_conversational(tmp_path, row):
    reading, train, _, _ = read(write(tmp_path, [row]))
    assert reading.kind == "paired" and reading.objective == "dpo"
    assert train == [{"prompt": [U], "chosen": [A("Yes.")], "rejected": [A("No.")]}]


def test_implicit_prompt_keeps_earlier_turns_and_system(tmp_path):
    conv = [{"role": "system", "content": "Be brief."}, U, A("Hello."),
            {"role": "user", "content": "And?"}]
    _, train, _, _ = read(write(tmp_path, [{"chosen": conv + [A("Yes.")],
                                            "rejected": conv + [A("No.")]}]))
    assert train[0]["prompt"] == conv and train[0]["chosen"] == [A("Yes.")]


def test_llamafactory_dpo_demo_shape():
    reading, train, _, _ = read(P / "dpo_en_demo.json")
    assert reading.columns == {"chosen": "chosen", "rejected": "rejected",
                               "prompt": "conversations"}
    assert len(train) == 10
    assert train[1]["prompt"][0] == {"role": "system",
                                     "content": "You are a teacher. Explain in simple steps."}
    assert [m["role"] for m in train[3]["prompt"]] == ["user", "assistant", "user"]
    assert train[0]["chosen"][0]["content"].startswith("Research the company")


def test_llamafactory_kto_demo_shape():
    reading, train, _, _ = read(P / "kto_en_demo.json")
    assert reading.kind == "unpaired" and reading.objective == "kto"
    assert reading.columns == {"label": "label", "messages": "messages"}
    assert [e["label"] for e in train[:2]] == [True, False]
    assert train[0]["completion"] == [A("Research the company, practise common questions "
                                        "and prepare a few questions of your own.")]
    assert [m["role"] for m in train[4]["prompt"]] == ["user", "assistant", "user"]
    assert len(pd.pairs_of(train)) == 10   # paired again by prompt for the accuracy


def test_trl_unpaired_standard():
    reading, train, _, _ = read(F / "trl_unpaired_preference.jsonl")
    assert reading.columns == {"label": "label", "prompt": "prompt",
                               "completion": "completion"}
    assert train[1] == {"prompt": [{"role": "user", "content": "The sky is"}],
                        "completion": [A(" green.")], "label": False}


def test_kto_validation_keeps_a_prompts_answers_together():
    cfg = DataConfig(source=str(P / "kto_en_demo.json"), validation=0.2)
    _, train, ev, info = pd.read(cfg, seed=3)
    key = lambda e: json.dumps(e["prompt"])  # noqa: E731
    assert {key(e) for e in train}.isdisjoint({key(e) for e in ev})
    assert len(pd.pairs_of(ev)) == len(ev) // 2 >= 1


def test_cut_from_the_prompt_side(tok):
    long = " ".join(["word"] * 80)
    ex = {"prompt": [{"role": "user", "content": "old question"}, A("old answer"),
                     {"role": "user", "content": long + " the question"}],
          "chosen": [A("Yes.")], "rejected": [A("No, never.")]}
    cut, status, full = pd.fit(tok, ex, 64)
    assert status == "truncated" and full > 64
    assert len(cut["prompt"]) == 1                       # the oldest exchange went first
    assert cut["prompt"][0]["content"].endswith("the question")   # then the oldest words
    assert cut["chosen"] == ex["chosen"] and cut["rejected"] == ex["rejected"]
    for answer in (cut["chosen"], cut["rejected"]):
        p, a = pd.encode_answer(tok, cut["prompt"], answer)
        assert len(p) + len(a) <= 64
    dropped, status, _ = pd.fit(tok, {**ex, "chosen": [A(long)]}, 64)
    assert dropped is None and status == "dropped"


def test_cut_in_text_the_tokenizer_spells_in_bytes_ends(tok):
    """LLaMA-Factory's kto_en_demo has Chinese rows: the tiny tokenizer spells each
    character in byte tokens, so a cut can split a character, decoding gives U+FFFD and
    re-encoding it is no shorter. Such an example is dropped, not cut for ever (it ran
    into the chat-template time limit, which then blamed the template)."""
    import threading
    prompt = "请根据以下内容回答问题。" * 12 + "问题是什么？"
    ex = {"prompt": [{"role": "user", "content": prompt}],
          "chosen": [A("答案是肯定的。" * 4)], "rejected": [A("不。")]}
    result = []
    worker = threading.Thread(target=lambda: result.append(pd.fit(tok, ex, 128)),
                              daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert result, "fit() did not end"
    cut, status, full = result[0]
    assert full > 128 and status in ("truncated", "dropped")
    if cut is not None:
        for answer in (cut["chosen"], cut["rejected"]):
            p, a = pd.encode_answer(tok, cut["prompt"], answer)
            assert len(p) + len(a) <= 128


def test_counts_as_for_sft(tok, tmp_path):
    rows = [{"prompt": "Hi?", "chosen": "Yes.", "rejected": "No."},
            {"prompt": " ".join(["word"] * 80), "chosen": "Yes.", "rejected": "No."},
            {"prompt": "Hi?", "chosen": " ".join(["word"] * 80), "rejected": "No."}]
    cfg = DataConfig(source=str(write(tmp_path, rows)), validation=None, block_size=48)
    data = pd.prepare(cfg, "dpo", tok, seed=1)
    s = data.stats
    assert (s["train_kept"], s["train_truncated"], s["train_dropped"]) == (1, 1, 1)
    assert s["train_rows"] == 3 and s["train_blocks"] == 2 and len(data.train) == 2
    with pytest.raises(DataError, match="data.truncate: training example 2"):
        pd.prepare(DataConfig(source=cfg.source, validation=None, block_size=48,
                              truncate=False), "dpo", tok, seed=1)


@pytest.mark.parametrize("source, objective, message", [
    (F / "alpaca.json", "dpo", "training.objective: .* is not preference data"),
    (P / "kto_en_demo.json", "dpo", "training.objective: dpo needs pairs.*training.objective: kto"),
    (P / "kto_en_demo.json", "orpo", "training.objective: orpo needs pairs"),
])
def test_mismatch_names_the_objective(tok, source, objective, message):
    with pytest.raises(DataError, match=message) as e:
        pd.prepare(DataConfig(source=str(source), validation=None), objective, tok, seed=1)
    assert e.value.field == "training.objective"


def test_kto_on_pairs_unpairs_them(tok):
    data = pd.prepare(DataConfig(source=str(P / "dpo_en_demo.json"), validation=None),
                      "kto", tok, seed=1)
    assert len(data.train) == 20 and [e["label"] for e in data.train[:2]] == [True, False]


# ---- the command line, with just a model and a file ---------------------------------------
def _yaml(tmp_path, model, data, **training):
    path = tmp_path / "run.yaml"
    raw = {"model": {"source": str(model)}, "data": {"source": str(data)}}
    if training:
        raw["training"] = training
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("name, objective", [("dpo_en_demo.json", "dpo"),
                                             ("kto_en_demo.json", "kto")])
def test_llamafactory_files_train_with_zero_configuration(tmp_path, tiny_model_dir, capsys,
                                                         name, objective):
    data = shutil.copy(P / name, tmp_path / name)
    assert main(["train", str(_yaml(tmp_path, tiny_model_dir, data))]) == 0
    err = capsys.readouterr().err
    assert f"Guessed training.objective: {objective}" in err
    from ftgui.core.runs import default_runs_dir
    (folder,) = [p for p in default_runs_dir().iterdir() if p.is_dir()]
    rd = RunDir(folder)
    s = rd.summary()
    assert s["status"] == "finished" and s["objective"] == objective
    assert rd.load_config().training.objective == objective   # a resume trains the same way
    assert 0 <= s["preference_accuracy_before"] <= 1 and "preference_margin_after" in s
    assert (rd.path / "adapter").is_dir() and (rd.path / "model").is_dir()


def test_objective_on_sft_data_exits_2_before_the_weights(tmp_path, tiny_model_dir, capsys):
    path = _yaml(tmp_path, tiny_model_dir, F / "alpaca.json", objective="dpo")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "training.objective" in err and "not preference data" in err
    assert "Traceback" not in err
