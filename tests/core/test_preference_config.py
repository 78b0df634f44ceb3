"""training.objective and the dpo / kto / orpo sections: defaults, help, validation."""

import pytest

from ftgui.core.config import RunConfig, field_meta, help_text
from ftgui.core.errors import ConfigError

BASE = {"model": {"source": "gpt2"}, "data": {"source": "x.jsonl"}}


def test_defaults_and_help():
    cfg = RunConfig.from_dict(BASE)
    assert cfg.training.objective == "sft"
    assert (cfg.dpo.beta, cfg.dpo.loss_type) == (0.1, "sigmoid")
    assert (cfg.kto.desirable_weight, cfg.kto.undesirable_weight) == (1.0, 1.0)
    assert cfg.orpo.beta == 0.1
    for key in ("training.objective", "dpo.beta", "dpo.loss_type", "kto.beta",
                "kto.desirable_weight", "kto.undesirable_weight", "orpo.beta"):
        assert len(help_text(key)) > 30
    assert field_meta("training.objective")["choices"] == ("sft", "dpo", "kto", "orpo")


def test_round_trip_through_yaml(tmp_path):
    cfg = RunConfig.from_dict({**BASE, "training": {"objective": "kto"},
                               "kto": {"desirable_weight": 1.5}})
    cfg.save(tmp_path / "c.yaml")
    back = RunConfig.load(tmp_path / "c.yaml")
    assert back.training.objective == "kto" and back.kto.desirable_weight == 1.5


@pytest.mark.parametrize("raw, key", [
    ({"training": {"objective": "rlhf"}}, "training.objective"),
    ({"dpo": {"beta": 0}}, "dpo.beta"),
    ({"dpo": {"loss_type": "sigmod"}}, "dpo.loss_type"),
    ({"kto": {"undesirable_weight": -1}}, "kto.undesirable_weight"),
    ({"orpo": {"beta": "high"}}, "orpo.beta"),
    ({"dpo": {"gamma": 1}}, "dpo.gamma"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({**BASE, **raw})
    assert e.value.field == key and key in e.value.message


def test_loss_types_are_trls():
    """Every dpo.loss_type offered is one TRL's DPOConfig accepts."""
    import inspect

    from trl import DPOConfig
    doc = inspect.getsource(DPOConfig)
    for name in field_meta("dpo.loss_type")["choices"]:
        assert f"'{name}'" in doc, name
