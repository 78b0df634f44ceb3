"""Published dataset formats are read right with zero configuration (data.format: auto):
detection, role mapping, the trained-on tokens of one example token by token, counts;
preference / KTO / media / prompt-only files refused; ambiguity listed."""

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ftgui.core import data as data_mod, formats, sft
from ftgui.core.config import DataConfig
from ftgui.core.errors import DataError
from tiny_model import FIXTURES, TOKENIZER_DIR

F = FIXTURES / "formats"
EOS = "<|endoftext|>"


@pytest.fixture
def tok():
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    sft.prepare_tokenizer(t, "auto")  # the simple template: the tiny tokenizer has none
    return t


@pytest.fixture
def tool_tok():
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    t.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    t.eos_token = "<|im_end|>"
    t.chat_template = (F / "tool_template.jinja").read_text()
    return t


def raw(name, **kw):
    return data_mod.load_raw(DataConfig(source=str(F / name), validation=None, **kw))


# file, format, role → column, rows, ignored columns, the assistant turns of the first row
# (as (role, content) of every message)
CASES = {
    "alpaca.json": ("instruction", {"prompt": "instruction", "input": "input",
                                    "response": "output"}, 3, [],
                    [("user", "Give three tips for staying healthy."),
                     ("assistant",
                      "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Sleep well.")]),
    "dolly.jsonl": ("instruction", {"prompt": "instruction", "input": "context",
                                    "response": "response"}, 3, ["category"],
                    [("user", "When did the airline start operating?\n\nBlue Air is a small "
                      "airline. It commenced services on 31 August 2000 with two aircraft on "
                      "a single route."), ("assistant", "It started on 31 August 2000.")]),
    "fastchat.json": ("chat", {"messages": "conversations"}, 3, ["id"],
                      [("user", "Who are you?"), ("assistant", "I am a small assistant."),
                       ("user", "Have a nice day!"), ("assistant", "You too!")]),
    "fastchat_system.json": ("chat", {"messages": "conversations", "system": "system"}, 2,
                             ["id"],
                             [("system", "You are a polite assistant named Tiny."),
                              ("user", "Who are you?"),
                              ("assistant", "I am Tiny, a polite assistant.")]),
    "openai_chat.jsonl": ("chat", {"messages": "messages"}, 3, [],
                          [("system", "You are a happy assistant."),
                           ("user", "I fell off my bike today."),
                           ("assistant", "Great that you were out riding!")]),
    "v1_parts.jsonl": ("chat", {"messages": "messages"}, 2, [],
                       [("user", "hi"), ("assistant", "Hello! How can I help?")]),
    "trl_prompt_completion.jsonl": ("prompt_completion", {"prompt": "prompt",
                                                          "response": "completion"}, 3, [],
                                    [("user", "The sky is"), ("assistant", " blue.")]),
    "trl_prompt_completion_conversational.jsonl": (
        "prompt_completion", {"prompt": "prompt", "response": "completion"}, 2, [],
        [("user", "What color is the sky?"), ("assistant", "It is blue.")]),
    "c4.jsonl": ("text", {"text": "text"}, 3, [], None),
    "bedrock_system.jsonl": ("chat", {"messages": "messages", "system": "system"}, 2, [],
                             [("system", "JSON Mode: Enabled"),
                              ("user", "first line of moby dick"),
                              ("assistant", '{"answer": "Call me Ishmael."}')]),
    "moss_pairs.jsonl": ("chat", {"messages": "conversation"}, 2,
                         ["conversation_id", "category", "dataset"],
                         [("user", "How do I stay safe at work?"),
                          ("assistant", "Follow the safety rules and wear protection."),
                          ("user", "And in an emergency?"),
                          ("assistant", "Stay calm and call for help.")]),
    "cohere_roles.jsonl": ("chat", {"messages": "messages"}, 2, [],
                           [("system", "Answer from the table."),
                            ("user", "What was revenue in 2009?"),
                            ("assistant", "It was 120 million.")]),
    "array_saved_as.jsonl": ("instruction", {"prompt": "instruction", "input": "input",
                                             "response": "output"}, 2, [],
                             [("user", "hi"), ("assistant", "Hello! I am Tiny.")]),
    "hub_shards": ("instruction", {"prompt": "prompt", "response": "response",
                                   "system": "system_prompt"}, 4,
                   ["adi_score", "model", "timestamp"],
                   [("system", "You are the ShellMaster. Category: files."),
                    ("user", "ls -la folder0"), ("assistant", "Listing folder0 with details.")]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_published_format_zero_config(name, tok):
    fmt, columns, rows, ignored, messages = CASES[name]
    r = raw(name)
    assert r.reading.detected and r.format == fmt
    assert r.reading.columns == columns
    assert sorted(r.reading.ignored) == sorted(ignored)
    assert len(r.train) == rows
    if fmt == "text":
        assert r.train[0].startswith("The garden was quiet")
        return
    first = r.train[0]
    assert [(m["role"], m["content"]) for m in first] == messages
    # token by token: labels are the ids of each response as the template renders it
    # ("content<eos>\n" in the simple template), -100 everywhere else
    ids, labels = sft.encode(first, tok, train_on_prompt=False)
    expected = []
    for role, content in messages:
        if role == "assistant":
            expected += tok(f"{content}{EOS}\n", add_special_tokens=False)["input_ids"]
    assert [y for y in labels if y != -100] == expected
    prompt_text = tok.decode([x for x, y in zip(ids, labels) if y == -100])
    for role, content in messages:
        assert (content in prompt_text) == (role != "assistant")
    # counts at a block size every example fits in
    p = data_mod.prepare(DataConfig(source=str(F / name), validation=None, block_size=256),
                         tok)
    assert (p.stats["train_kept"], p.stats["train_truncated"], p.stats["train_dropped"]) \
        == (rows, 0, 0)


def test_tool_calls_and_tools_reach_the_template(tool_tok):
    """OpenAI tool_calls / role tool / tools list, and LLaMA-Factory function_call /
    observation with tools as a JSON string: the schemas are rendered through tools=, the
    calls and the answers are trained on, the tool results are not."""
    for name, column in (("openai_tools.jsonl", "messages"),
                         ("glaive_toolcall.json", "conversations")):
        r = raw(name)
        assert r.format == "chat" and r.reading.columns == {"messages": column,
                                                            "tools": "tools"}
        chat = r.train[0]
        assert [m["role"] for m in chat] == ["user", "assistant", "tool", "assistant"]
        call = chat[1]["tool_calls"][0]["function"]
        assert isinstance(call["arguments"], dict)  # parsed, so templates render JSON once
        assert chat.tools and isinstance(chat.tools, list)
        data_mod.check_template(r, DataConfig(source=str(F / name)), tool_tok)
        ids, labels = sft.encode(chat, tool_tok, train_on_prompt=False)
        text = tool_tok.decode(ids)
        assert "# Tools" in text and chat.tools[0].get("name", "get_weather") in text
        trained = tool_tok.decode([y for y in labels if y != -100])
        args = json.dumps(call["arguments"])
        assert trained == (f'<tool_call>\n{{"name": "{call["name"]}", "arguments": {args}}}'
                           f'\n</tool_call><|im_end|>\n{chat[3]["content"]}<|im_end|>\n')
        assert chat[2]["content"] not in trained
    assert raw("glaive_toolcall.json").train[1].tools is None  # "[]": no tools


def test_tools_need_a_template_that_renders_them(tok):
    r = raw("glaive_toolcall.json")
    with pytest.raises(DataError, match=r"data.template: .*cannot render them.*Qwen2.5"):
        data_mod.check_template(r, DataConfig(source="x"), tok)


@pytest.mark.parametrize("name, what", [
    ("trl_preference.jsonl", r"preference dataset \(columns chosen and rejected"),
    ("llamafactory_dpo.json", r"preference dataset"),
    ("trl_unpaired_preference.jsonl", r"unpaired preference \(KTO\).*column label"),
    ("llamafactory_kto.json", r"unpaired preference \(KTO\)"),
    ("mllm.json", r"images, audio or video \(column images\)"),
    ("openai_vision.jsonl", r"images, audio or video \(column messages \(an image_url"),
    ("rl_prompts.jsonl", r"prompts only \(column prompt"),
])
def test_files_that_are_not_sft_data_are_refused(name, what):
    with pytest.raises(DataError, match=what):
        raw(name)


def test_kto_refused_even_with_an_explicit_chat_format():
    with pytest.raises(DataError, match="KTO"):
        raw("llamafactory_kto.json", format="chat")


def test_preference_trained_on_chosen_only_when_asked(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({"chosen": [{"role": "user", "content": "a b"},
                                        {"role": "assistant", "content": "c d"}],
                             "rejected": [{"role": "user", "content": "a b"},
                                          {"role": "assistant", "content": "e"}]}))
    r = data_mod.load_raw(DataConfig(source=str(p), format="chat", messages_column="chosen",
                                     validation=None))
    assert r.train[0][1]["content"] == "c d"


def test_two_readings_exit_2_listing_the_settings(tmp_path, tiny_model_dir, capsys):
    from ftgui.cli import main
    p = tmp_path / "two.jsonl"
    msgs = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello you"}]
    p.write_text(json.dumps({"messages": msgs, "dialog": msgs}) + "\n")
    with pytest.raises(DataError) as e:
        data_mod.load_raw(DataConfig(source=str(p), validation=None))
    assert "data.format: chat, data.messages_column: messages" in e.value.message
    assert "data.format: chat, data.messages_column: dialog" in e.value.message
    q = tmp_path / "counsel.jsonl"
    q.write_text(json.dumps({"questionText": "How do I sleep better?", "answerText":
                             "Keep a regular bed time.", "text": "<s>[INST] How [/INST] Keep"}))
    assert main(["data", str(q), "--model", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert "data.format: instruction, data.prompt_column: questionText, " \
           "data.response_column: answerText" in err
    assert "data.format: text, data.text_column: text" in err


ID_NAMES = ["id", "uuid", "source", "category", "label", "url", "tools", "conversation_id",
            "question_id", "Name", "topic", "key", "tag", "code", "split", "hash",
            "prompt", "completion", "output", "answer", "messages", "system"]
token = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"),
                                       whitelist_characters="_-:."), min_size=1, max_size=24)
idlike = st.one_of(token, st.integers(0, 10**9).map(str), st.uuids().map(str),
                   token.map(lambda t: f"https://example.com/{t}"))
sentence = st.lists(st.sampled_from(["the", "cat", "sat", "on", "a", "warm", "mat", "today",
                                     "and", "slept", "well"]), min_size=3, max_size=12
                    ).map(" ".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(real=st.sampled_from(["text", "body", "content", "story", "passage"]),
       extra=st.lists(st.tuples(st.one_of(st.sampled_from(ID_NAMES), token), idlike),
                      min_size=1, max_size=5, unique_by=lambda t: t[0].lower()),
       n_rows=st.integers(1, 6), data=st.data())
def test_no_id_or_metadata_column_is_ever_training_text(real, extra, n_rows, data):
    names = [n for n, _ in extra if n.lower() != real]
    rows = []
    for i in range(n_rows):
        row = {n: data.draw(idlike) if i else v for n, v in extra if n in names}
        row[real] = data.draw(sentence)
        rows.append(row)
    reading = formats.detect(rows, DataConfig(source="x"), "test rows")
    assert reading.format == "text" and reading.columns == {"text": real}
    assert set(reading.ignored) == set(names)


def test_folder_validation_split_and_hub_shards_are_used():
    r = data_mod.load_raw(DataConfig(source=str(F / "split_folder")))
    assert r.splits == {"train": 4, "validation": 1}
    assert r.validation_from == "the folder's validation split (validation.jsonl)"
    assert r.eval[0][1]["content"] == "Answer number 9."
    s = data_mod.load_raw(DataConfig(source=str(F / "hub_shards")))
    assert s.splits == {"train": 4, "validation": 1}
    assert "validation-00000-of-00001.parquet" in s.validation_from
    one = data_mod.load_raw(DataConfig(source=str(F / "alpaca.json"), validation=0.34))
    assert one.splits == {"train": 2, "validation": 1}
    assert one.validation_from == "34% of the training rows held out"


def test_long_chat_is_cut_from_the_prompt_side(tok):
    """Oldest turns go first, then the oldest prompt tokens; the final response is never
    cut; an example whose final response alone is longer than the block is dropped."""
    chat = [{"role": "system", "content": "Be kind."},
            {"role": "user", "content": "one " * 30}, {"role": "assistant", "content": "first"},
            {"role": "user", "content": "two " * 10},
            {"role": "assistant", "content": "second answer"}]
    full, _ = sft.encode(chat, tok, False)
    last_two = [chat[0]] + chat[3:]
    short, short_labels = sft.encode(last_two, tok, False)
    assert len(short) < len(full)
    ids, labels, status, n = sft.encode_fitting(chat, tok, False, len(short))
    assert (status, n) == ("truncated", len(full))
    assert (ids, labels) == (short, short_labels)  # the oldest exchange went, system kept
    ids, labels, status, _ = sft.encode_fitting(chat, tok, False, len(short) - 5)
    assert status == "truncated" and ids == short[5:] and labels == short_labels[5:]
    response = tok("second answer" + EOS + "\n", add_special_tokens=False)["input_ids"]
    assert [y for y in labels if y != -100] == response
    ids, labels, status, _ = sft.encode_fitting(chat, tok, False, len(response) - 1)
    assert status == "dropped" and ids == []


def test_dolly_rows_with_context_are_kept_not_dropped(tok):
    """The issue's Dolly case: a long context used to cut the response off."""
    cfg = DataConfig(source=str(F / "dolly.jsonl"), validation=None, block_size=72)
    p = data_mod.prepare(cfg, tok)
    assert p.stats["train_truncated"] == 1 and p.stats["train_dropped"] == 0
    r = raw("dolly.jsonl")
    ids, labels = p.train.get(0)
    want = tok("It started on 31 August 2000." + EOS + "\n",
               add_special_tokens=False)["input_ids"]
    assert [int(y) for y in labels if y != -100] == want
    full = len(sft.encode(r.train[0], tok, False)[0])
    assert full > 72 and p.train.lengths()[0] == 72
    lengths = [len(sft.encode(c, tok, False)[0]) for c in r.train]
    assert p.stats["train_block_size_95"] == max(lengths)  # 95 % of 3 examples: all 3


def test_gzipped_jsonl_and_eval_split_names(tmp_path):
    import gzip
    folder = tmp_path / "d"
    folder.mkdir()
    rows = (F / "c4.jsonl").read_bytes()
    (folder / "train.jsonl.gz").write_bytes(gzip.compress(rows))
    (folder / "eval.jsonl").write_bytes(rows.splitlines(keepends=True)[0])
    r = data_mod.load_raw(DataConfig(source=str(folder / "train.jsonl.gz"), validation=None))
    assert r.format == "text" and len(r.train) == 3
    r = data_mod.load_raw(DataConfig(source=str(folder)))
    assert r.validation_from == "the folder's validation split (eval.jsonl)"
    assert r.splits == {"train": 3, "validation": 1}
