from pathlib import Path

import pytest

from ftgui.core.config import RunConfig, help_text
from ftgui.core.errors import ConfigError
from ftgui.paths import demo_config_path


def test_yaml_round_trip(tmp_path, tiny_config):
    cfg = tiny_config(training={"scheduler": "cosine", "eval_steps": 4},
                      lora={"target_modules": ["c_attn"]})
    path = tmp_path / "run.yaml"
    cfg.save(path)
    again = RunConfig.load(path)
    assert again == cfg


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"training\.learnig_rate") as e:
        RunConfig.from_dict({"training": {"learnig_rate": 1e-4}})
    assert e.value.field == "training.learnig_rate"


def test_unknown_section_is_named():
    with pytest.raises(ConfigError, match="'optimizer'"):
        RunConfig.from_dict({"optimizer": {}})


@pytest.mark.parametrize("section,key,value", [
    ("training", "batch_size", "eight"),
    ("training", "gradient_checkpointing", "yes please"),
    ("data", "block_size", 12.5),
    ("lora", "target_modules", 3),
])
def test_wrong_type_is_named(section, key, value):
    with pytest.raises(ConfigError, match=rf"{section}\.{key}.*must be"):
        RunConfig.from_dict({"model": {"source": "x"}, "data": {"source": "y"},
                             section: {key: value}})


@pytest.mark.parametrize("key,value", [("learning_rate", 0), ("learning_rate", -1e-4),
                                       ("batch_size", 0), ("batch_size", -2)])
def test_non_positive_values_refused(key, value):
    with pytest.raises(ConfigError, match=rf"training\.{key}"):
        RunConfig.from_dict({"model": {"source": "x"}, "data": {"source": "y"},
                             "training": {key: value}})


def test_numbers_written_as_strings_are_accepted():
    cfg = RunConfig.from_dict({"model": {"source": "x"}, "data": {"source": "y"},
                               "training": {"learning_rate": "5e-5"}})
    assert cfg.training.learning_rate == 5e-5


def test_problems_lists_every_bad_field():
    cfg = RunConfig()
    cfg.training.batch_size = 0
    cfg.data.validation = 1.5
    keys = [k for k, _ in cfg.problems()]
    assert {"training.batch_size", "data.validation", "model.source", "data.source"} <= set(keys)


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    (tmp_path / "data.txt").write_text("hello\n")
    (tmp_path / "c.yaml").write_text("model: {source: ./m}\ndata: {source: data.txt}\n")
    cfg = RunConfig.load(tmp_path / "c.yaml")
    assert cfg.data.source == str(tmp_path / "data.txt")
    assert cfg.model.source == str(tmp_path / "m")


def test_hub_ids_stay_ids(tmp_path):
    (tmp_path / "c.yaml").write_text("model: {source: HuggingFaceTB/SmolLM2-135M}\n"
                                     "data: {source: wikitext, config: wikitext-2-raw-v1}\n")
    cfg = RunConfig.load(tmp_path / "c.yaml")
    assert cfg.model.source == "HuggingFaceTB/SmolLM2-135M"
    assert cfg.data.source == "wikitext"


def test_overrides():
    cfg = RunConfig.from_dict({"model": {"source": "x"}, "data": {"source": "y"}})
    cfg = cfg.with_overrides(["training.max_steps=5", "lora.target_modules=[q_proj, v_proj]"])
    assert cfg.training.max_steps == 5
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError, match="section.key=value"):
        cfg.with_overrides(["max_steps=5"])


def test_invalid_yaml_names_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  source: x\n  method: [full\n")
    with pytest.raises(ConfigError, match="line"):
        RunConfig.load(p)


def test_shipped_demo_config_is_valid():
    cfg = RunConfig.load(demo_config_path())
    assert cfg.model.method == "lora"
    assert Path(cfg.data.source).is_file()


def test_every_field_has_help():
    cfg = RunConfig()
    for section, values in cfg.to_dict().items():
        for key in values:
            assert help_text(f"{section}.{key}"), f"{section}.{key} has no help"
