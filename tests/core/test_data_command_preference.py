"""`ftgui data` on preference files: the facts it gives for SFT data, the objective the run
would guess, and one example with the prompt once and the answers side by side (one under
the other on a narrow terminal), rendered with the chat template as the run renders it."""

import json

from ftgui.cli import main
from ftgui.cli_pairs import cells
from tiny_model import FIXTURES

P = FIXTURES / "preference"
F = FIXTURES / "formats"


def data(capsys, *args):
    assert main(["data", *map(str, args)]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def example_part(out):
    return out[out.index("\nExample "):].splitlines()[1:]


def columns(lines):
    """The chosen and rejected texts back from the side-by-side lines."""
    start = next(i for i, ln in enumerate(lines) if ln.startswith("--- chosen"))
    rows = [ln.split(" | ", 1) + [""] for ln in lines[start + 1:]]
    return (" ".join(" ".join(r[0].strip() for r in rows).split()),
            " ".join(" ".join(r[1].strip() for r in rows).split()))


def test_json_describes_a_dpo_file_and_renders_the_pair_as_the_run_does(tiny_model_dir,
                                                                        capsys):
    from transformers import AutoTokenizer
    from ftgui.core import sft
    rep = json.loads(data(capsys, P / "dpo_en_demo.json", "--model", tiny_model_dir,
                          "--json", "--example", "2", "--set", "validation="))
    assert rep["format"] == "preference" and rep["detected"] is True
    assert rep["objective"] == "dpo" and rep["objective_guessed"] is True
    assert rep["columns"] == {"chosen": "chosen", "rejected": "rejected",
                              "prompt": "conversations"}
    assert rep["splits"] == {"train": 10}
    assert rep["examples"] == {"kept": 9, "truncated": 1, "dropped": 0}   # row 10 is long
    assert 0 < rep["token_lengths"]["median"] <= 128 < rep["token_lengths"]["longest"]
    ex = rep["example"]
    assert ex["number"] == 2 and ex["status"] == "kept"
    assert "You are a teacher" in ex["prompt"] and "Pride and Prejudice" in ex["prompt"]
    assert "Jane Austen" in ex["chosen"] and "Charles Dickens" in ex["rejected"]
    assert ex["trained"] == [ex["chosen"], ex["rejected"]]
    # prompt + answer is exactly the conversation through the chat template
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    sft.prepare_tokenizer(tok, "auto")
    raw = json.loads((P / "dpo_en_demo.json").read_text())[1]
    msgs = [{"role": {"system": "system", "human": "user"}[m["from"]], "content": m["value"]}
            for m in raw["conversations"]]
    for answer, key in ((ex["chosen"], "chosen"), (ex["rejected"], "rejected")):
        full = tok.apply_chat_template(msgs + [{"role": "assistant",
                                               "content": raw[key]["value"]}],
                                       tokenize=False)
        assert ex["prompt"] + answer == full
        assert ex["tokens"][key] == len(tok(answer, add_special_tokens=False)["input_ids"])


def test_plain_output_shows_the_prompt_once_and_the_answers_side_by_side(
        tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")   # capped at 100 columns
    out = data(capsys, P / "dpo_en_demo.json", "--model", tiny_model_dir, "--example", "2")
    assert "Data format: preference (detected); columns: chosen = chosen, rejected = " \
           "rejected, prompt = conversations." in out
    assert "Objective: dpo (guessed from the file; training.objective can choose orpo " \
           "or kto)." in out
    assert "Examples at block_size 128: 8 kept, 1 cut from the prompt side, 0 dropped " \
           "(too long even with the prompt cut down: an answer, the system message and the " \
           "template's framing stay whole)." in out   # 9 (1 held out)
    assert "Token lengths (prompt + longest answer): median " in out
    assert out.count("Pride and Prejudice") == 1 and out.count("You are a teacher") == 1
    lines = example_part(out)
    assert max(cells(ln) for ln in lines) <= 100
    assert sum(" | " in ln for ln in lines) >= 3
    chosen, rejected = columns(lines)
    assert chosen.startswith("[train]Jane Austen wrote it; it was published in 1813.")
    assert chosen.endswith("[/train]")
    assert rejected.startswith("[train]It was written by Charles Dickens.")
    assert rejected.endswith("[/train]")


def test_a_narrow_terminal_gets_the_answers_one_under_the_other(tiny_model_dir, capsys,
                                                                 monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    out = data(capsys, P / "dpo_en_demo.json", "--model", tiny_model_dir, "--example", "2")
    lines = example_part(out)
    assert max(cells(ln) for ln in lines) <= 50
    assert not any(" | " in ln for ln in lines)
    text = " ".join(" ".join(lines).split())
    c, r = text.index("--- chosen"), text.index("--- rejected")
    assert c < text.index("Jane Austen wrote it;") < r < text.index("Charles Dickens.")


def test_kto_file_shows_the_completion_and_its_label(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = data(capsys, P / "kto_en_demo.json", "--model", tiny_model_dir, "--example", "2")
    assert "Data format: unpaired preference (detected); columns: label = label, " \
           "messages = messages." in out
    assert "Objective: kto (guessed from the file; training.objective can choose nothing " \
           "else: dpo and orpo need pairs)." in out
    lines = example_part(out)
    assert max(cells(ln) for ln in lines) <= 80
    assert any(ln.startswith("--- completion, label false: trained as a bad answer")
               for ln in lines)
    assert "[train]Just show up and see what happens." in " ".join(lines)
    assert out.count("How can I best prepare for a job interview?") == 1


def test_trl_standard_pairs_through_the_chat_template(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    rep = json.loads(data(capsys, P / "trl_standard.jsonl", "--model", tiny_model_dir,
                          "--json", "--example", "3", "--set", "validation="))
    assert rep["format"] == "preference" and rep["objective"] == "dpo"
    assert rep["columns"] == {"chosen": "chosen", "rejected": "rejected", "prompt": "prompt"}
    ex = rep["example"]
    assert "The capital of France is" in ex["prompt"]
    assert "Paris, on the river Seine." in ex["chosen"] and "Lyon." in ex["rejected"]
    out = data(capsys, P / "trl_standard.jsonl", "--model", tiny_model_dir, "--example", "3",
               "--set", "validation=")
    chosen, rejected = columns(example_part(out))
    assert "Paris, on the river Seine." in chosen and "Lyon." in rejected
    assert out.count("The capital of France is") == 1


def test_the_config_objective_is_used_and_kto_on_pairs_explained(tiny_config, capsys):
    cfg = tiny_config(data={"source": str(P / "dpo_en_demo.json"), "validation": None,
                            "block_size": 128},
                      training={"objective": "kto"})
    path = cfg.training.output_dir + ".yaml"
    cfg.save(path)
    out = data(capsys, path)
    assert "Objective: kto (training.objective)." in out
    assert "KTO trains each pair as two examples" in out
    # the counts are KTO's: each of the 10 pairs is two examples (one long answer cut)
    assert "Examples at block_size 128: 19 kept, 1 cut from the prompt side" in out


def test_a_cut_example_is_shown_cut_and_a_dropped_one_whole(tiny_model_dir, capsys):
    def example(n):
        return json.loads(data(capsys, P / "dpo_en_demo.json", "--model", tiny_model_dir,
                               "--json", "--set", "validation=", "--set", "block_size=60",
                               "--example", str(n)))
    rep = example(4)
    assert rep["examples"] == {"kept": 6, "truncated": 2, "dropped": 2}
    ex = rep["example"]   # two exchanges: the first goes, then the oldest tokens
    assert ex["status"] == "truncated" and ex["full_tokens"] > 60
    assert ex["tokens"]["prompt"] + max(ex["tokens"]["chosen"], ex["tokens"]["rejected"]) \
        <= 60
    assert "I have trouble sleeping." not in ex["prompt"] and "sorry" not in ex["prompt"]
    assert "Keep a regular bedtime" in ex["chosen"]
    ex = example(2)["example"]   # its system message alone nearly fills the block
    assert ex["status"] == "dropped" and "You are a teacher" in ex["prompt"]
    assert ex["tokens"]["prompt"] + ex["tokens"]["chosen"] > 60


def test_a_preference_file_read_as_sft_by_hand_is_still_refused(tiny_model_dir, capsys):
    assert main(["data", str(F / "trl_preference.jsonl"), "--model", str(tiny_model_dir),
                 "--set", "format=instruction"]) == 2
    assert "preference dataset" in capsys.readouterr().err


def test_wide_characters_are_wrapped_by_the_columns_they_take():
    from ftgui.cli_pairs import wrap
    lines = wrap("友誼 " * 20 + "世界" * 30, 21)
    assert all(cells(ln) <= 21 for ln in lines) and len(lines) > 6
    assert "".join(lines).replace(" ", "") == "友誼" * 20 + "世界" * 30
