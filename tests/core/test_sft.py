"""Instruction, chat and prompt/completion data: labels only on responses, EOS learned."""

import json

import pytest
import torch

from ftgui.core import data as data_mod, sft
from ftgui.core.config import DataConfig
from ftgui.core.errors import DataError
from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir
from tiny_model import FIXTURES, TOKENIZER_DIR

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

FORMATS = {
    "instruction": FIXTURES / "instructions.jsonl",
    "chat": FIXTURES / "chat.jsonl",
    "prompt_completion": FIXTURES / "prompt_completion.csv",
}


@pytest.fixture
def tok():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


@pytest.fixture
def chatml_tok(tok):
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = CHATML
    return tok


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_trains(tiny_config, fmt):
    cfg = tiny_config(data={"source": str(FORMATS[fmt]), "format": fmt, "block_size": 96,
                            "validation": 0.2},
                      training={"max_steps": 4, "batch_size": 2, "logging_steps": 1})
    summary = run_config(cfg)
    assert summary["status"] == "finished"
    assert summary["train_trained_tokens"] < summary["train_tokens"]
    assert summary["perplexity_after"] > 0
    saved = json.loads((RunDir(cfg.training.output_dir).model_dir /
                        "tokenizer_config.json").read_text())
    assert saved.get("chat_template") == sft.SIMPLE_TEMPLATE or \
        (RunDir(cfg.training.output_dir).model_dir / "chat_template.jinja").exists()


def test_sharegpt_form_is_read():
    raw = data_mod.load_raw(DataConfig(source=str(FIXTURES / "sharegpt.jsonl"), format="chat",
                                       validation=None))
    assert raw.train[1][2] == {"role": "user", "content": "And of Spain?"}
    assert raw.text_column == "messages=conversations"


def _check_labels(ids, labels, tok, messages):
    """Token by token: -100 exactly on the prompt parts, the ids on the response parts."""
    pieces = sft.segments(messages, tok)
    pos = 0
    for text, is_response in pieces:
        n = len(tok(text, add_special_tokens=False)["input_ids"])
        if is_response:
            assert labels[pos:pos + n] == ids[pos:pos + n], text
        else:
            assert labels[pos:pos + n] == [-100] * n, text
        pos += n
    assert pos == len(ids)
    assert tok.eos_token_id in [y for y in labels if y != -100]


def test_instruction_labels_simple_template(tok):
    sft.prepare_tokenizer(tok, "auto")
    messages = [{"role": "user", "content": "Name the largest ocean."},
                {"role": "assistant", "content": "The Pacific Ocean."}]
    ids, labels = sft.encode(messages, tok, train_on_prompt=False)
    prompt = sft.generation_prompt(tok, "Name the largest ocean.")
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [-100] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    learned = tok.decode([t for t in labels if t != -100])
    assert learned.startswith("The Pacific Ocean.<|endoftext|>")
    _check_labels(ids, labels, tok, messages)
    ids2, labels2 = sft.encode(messages, tok, train_on_prompt=True)
    assert ids2 == ids and labels2 == ids


def test_chat_labels_with_a_chat_template(chatml_tok):
    tok = chatml_tok
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And Spain?"},
                {"role": "assistant", "content": "Madrid."}]
    sft.prepare_tokenizer(tok, "auto")
    assert tok.chat_template == CHATML  # its own template is kept
    ids, labels = sft.encode(messages, tok, train_on_prompt=False)
    _check_labels(ids, labels, tok, messages)
    learned = tok.decode([t for t in labels if t != -100])
    assert learned == "Paris.<|im_end|>\nMadrid.<|im_end|>\n"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert labels.count(im_end) == 2  # the end of each assistant turn is learned


def _batch(tok, fmt, ids, labels):
    seqs = data_mod.Sequences.from_lists(ids, labels)
    items = [data_mod.SequenceDataset(seqs)[i] for i in range(len(seqs))]
    return data_mod.collator(tok, fmt)(items)


def test_padding_never_hides_eos(tok):
    """pad = eos: padded positions get -100, the real EOS keeps its label."""
    from ftgui.core.data_steps import give_pad_token

    give_pad_token(tok)   # as models.load_tokenizer does
    assert tok.pad_token_id == tok.eos_token_id
    eos = tok.eos_token_id
    batch = _batch(tok, "chat", [[5, 6, eos], [7, eos]], [[-100, 6, eos], [7, eos]])
    assert batch["labels"].tolist() == [[-100, 6, eos], [7, eos, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["input_ids"].tolist() == [[5, 6, eos], [7, eos, eos]]
    assert batch["input_ids"].dtype == batch["labels"].dtype == torch.int64


def test_padding_is_on_the_right_whatever_side_the_tokenizer_pads(tok):
    """A tokenizer set to pad on the left (for batched generation) still trains on
    right-padded batches, so positions start at 0, and keeps its own side when saved."""
    from ftgui.core.data_steps import give_pad_token

    give_pad_token(tok)
    tok.padding_side = "left"
    eos = tok.eos_token_id
    batch = _batch(tok, "instruction", [[5, 6, 8], [7, 9]], [[-100, 6, 8], [7, 9]])
    assert batch["input_ids"].tolist() == [[5, 6, 8], [7, 9, eos]]
    assert batch["labels"].tolist() == [[-100, 6, 8], [7, 9, -100]]
    assert tok.padding_side == "left"


def test_batches_give_the_loss_of_the_sequences_alone(tok, tiny_model_dir):
    """What the collator adds changes no loss, to the last bit: packed text blocks are
    stacked with no mask; equal-length SFT sequences get an all-ones mask, which gives
    the same loss as none; a right-padded sequence has the logits it has alone."""
    from transformers import AutoModelForCausalLM

    from ftgui.core.data_steps import give_pad_token

    give_pad_token(tok)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    gen = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 200, (4, 32), generator=gen)
    stacked = {"input_ids": blocks, "labels": blocks.clone()}
    text = _batch(tok, "text", blocks.tolist(), blocks.tolist())
    assert sorted(text) == ["input_ids", "labels"]
    assert all(torch.equal(text[k], stacked[k]) for k in stacked)
    sft_equal = _batch(tok, "chat", blocks.tolist(), blocks.tolist())
    assert sft_equal["attention_mask"].eq(1).all()
    with torch.no_grad():
        assert torch.equal(model(**sft_equal).loss, model(**stacked).loss)
        ragged = [blocks[0, :20].tolist(), blocks[1].tolist()]
        batch = _batch(tok, "chat", ragged, ragged)
        logits = model(input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"]).logits
        alone = model(input_ids=torch.tensor([ragged[0]])).logits
    assert torch.allclose(logits[0, :20], alone[0], atol=1e-5)


def test_truncation_and_packing_are_reported(tok):
    cfg = DataConfig(source=str(FORMATS["instruction"]), format="instruction", block_size=44,
                     validation=None)
    p = data_mod.prepare(cfg, tok)
    assert p.stats["train_truncated"] > 0
    assert p.train.lengths().max() <= 44
    packed = data_mod.prepare(DataConfig(**{**cfg.__dict__, "block_size": 160,
                                            "packing": True}), tok)
    assert len(packed.train) < packed.stats["train_rows"]
    assert packed.train.lengths().max() <= 160


def _write(tmp_path, rows):
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    return str(p)


def test_chat_roles_must_alternate(tmp_path):
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    bad = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                        {"role": "assistant", "content": "c"}]}
    src = _write(tmp_path, [good, good, bad])
    with pytest.raises(DataError, match=r"row 3: roles do not alternate: message 2"):
        data_mod.load_raw(DataConfig(source=src, format="chat", validation=None))


def test_chat_needs_an_assistant_turn(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}]
    with pytest.raises(DataError, match=r"row 2: there is no assistant message"):
        data_mod.load_raw(DataConfig(source=_write(tmp_path, rows), format="chat",
                                     validation=None))


def test_missing_mapped_column(tmp_path):
    src = _write(tmp_path, [{"instruction": "a", "output": "b"}])
    with pytest.raises(DataError, match=r"data.response_column: there is no column 'answer'"):
        data_mod.load_raw(DataConfig(source=src, format="instruction", validation=None,
                                     response_column="answer"))
    src = _write(tmp_path, [{"question_text": "a", "reply": "b"}])
    with pytest.raises(DataError, match=r"data.prompt_column: could not tell"):
        data_mod.load_raw(DataConfig(source=src, format="instruction", validation=None))


def test_empty_response_names_the_row(tmp_path):
    src = _write(tmp_path, [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": ""}])
    with pytest.raises(DataError, match=r"row 2: column 'output' is empty"):
        data_mod.load_raw(DataConfig(source=src, format="instruction", validation=None))


def test_too_long_without_truncation_names_the_example(tok):
    cfg = DataConfig(source=str(FORMATS["instruction"]), format="instruction", block_size=44,
                     truncate=False, validation=None)
    with pytest.raises(DataError, match=r"data.truncate: training example \d+ is \d+ tokens"):
        data_mod.prepare(cfg, tok)


def test_learns_responses_and_where_to_stop(tiny_config, capsys):
    """20 prompt/response pairs: greedy generation from the prompt gives the response, then
    stops (EOS was learned through the template)."""
    from ftgui.cli import main
    cfg = tiny_config(data={"source": str(FORMATS["instruction"]), "format": "instruction",
                            "block_size": 96, "validation": None},
                      training={"max_steps": 300, "batch_size": 4, "learning_rate": 3e-3,
                                "logging_steps": 50, "save_steps": 1000, "scheduler": "constant"})
    run_config(cfg)
    run = RunDir(cfg.training.output_dir)

    from ftgui.core.inference import generate, load_for_generation
    model, tok = load_for_generation(str(run.path))
    rows = [json.loads(line) for line in FORMATS["instruction"].read_text().splitlines()]
    exact = 0
    for row in rows:
        prompt = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")
        text = generate(model, tok, prompt, max_new_tokens=40, chat=True)
        exact += text.strip() == row["output"]
    assert exact >= 18, f"only {exact}/20 responses reproduced"

    capsys.readouterr()
    assert main(["generate", str(run.path), "--prompt", rows[0]["instruction"],
                 "--max-new-tokens", "40"]) == 0
    assert capsys.readouterr().out.strip() == rows[0]["output"]
