"""The Playground's validation examples of a preference run: read again from the run's
config exactly as the run read them (the same hold-out, the same cut to the block), and
each model's score of one the same margin the run's preference accuracy counts."""

import pytest

from tiny_model import FIXTURES, TOKENIZER_DIR
from ftgui.core import playground, preference, preference_data
from ftgui.core.config import RunConfig

P = FIXTURES / "preference"


@pytest.fixture
def tok():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def _run(tmp_path, source, objective, block_size=64, validation=0.3):
    cfg = RunConfig.from_dict({
        "model": {"source": "gpt2"},
        "data": {"source": str(source), "validation": validation, "block_size": block_size},
        "training": {"objective": objective, "seed": 7}})
    run = tmp_path / objective
    run.mkdir()
    cfg.save(run / "config.yaml")
    return run, cfg


def _as_dict(ex):
    return ({"prompt": ex.prompt, "chosen": ex.chosen, "rejected": ex.rejected}
            if ex.paired else
            {"prompt": ex.prompt, "completion": ex.completion, "label": ex.label})


@pytest.mark.parametrize("source, objective", [(P / "dpo_en_demo.json", "dpo"),
                                               (P / "kto_en_demo.json", "kto"),
                                               (P / "dpo_en_demo.json", "kto")])
def test_validation_examples_are_the_runs(tmp_path, tok, source, objective):
    run, cfg = _run(tmp_path, source, objective)
    found = playground.validation_examples(run, tok, limit=50)
    prepared = preference_data.prepare(cfg.data, objective, tok, cfg.training.seed)
    assert found and [_as_dict(e) for e in found] == prepared.eval
    if objective == "kto":
        assert {e.label for e in found} == {True, False} and not found[0].paired
        assert found[0].title().startswith(f"{found[0].number}. [label ")
    else:
        assert found[0].paired and found[0].answers() == [found[0].chosen, found[0].rejected]
    assert len(playground.validation_examples(run, tok, limit=2)) == 2


def test_examples_cut_to_the_block_as_trained(tmp_path, tok):
    """A short block: prompts cut from their start, the examples whose answer does not
    fit left out, as the run left them out (their numbers skip)."""
    run, cfg = _run(tmp_path, P / "dpo_en_demo.json", "dpo", block_size=40, validation=None)
    cfg.data.validation = str(P / "dpo_en_demo.json")
    cfg.save(run / "config.yaml")
    found = playground.validation_examples(run, tok, limit=50)
    prepared = preference_data.prepare(cfg.data, "dpo", tok, cfg.training.seed)
    assert [_as_dict(e) for e in found] == prepared.eval
    assert prepared.stats["eval_dropped"] > 0 and prepared.stats["eval_truncated"] > 0
    assert [e.number for e in found] != list(range(1, len(found) + 1))


def test_an_sft_run_has_none(tmp_path, tok):
    run, _ = _run(tmp_path, FIXTURES / "wiki-small.txt", "sft")
    assert playground.validation_examples(run, tok) == []


def test_example_score_is_the_margin_pair_scores_counts(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    run, _ = _run(tmp_path, P / "dpo_en_demo.json", "dpo")
    ex = playground.validation_examples(run, tok, limit=1)[0]
    margin = playground.example_score(model, tok, ex)
    assert margin == pytest.approx(preference.pair_scores(model, tok, [_as_dict(ex)])["margin"],
                                   abs=1e-5)
    c, r = preference.answer_logps(model, tok, ex.prompt, ex.answers())
    assert c < 0 and r < 0 and margin == pytest.approx(c - r, abs=1e-5)
    kto_run, _ = _run(tmp_path, P / "kto_en_demo.json", "kto")
    one = playground.validation_examples(kto_run, tok, limit=1)[0]
    model.train()   # scored in eval mode (no dropout), then left as it was
    logp = playground.example_score(model, tok, one)
    assert model.training
    assert logp == pytest.approx(preference.answer_logps(model.eval(), tok, one.prompt,
                                                         [one.completion])[0])
