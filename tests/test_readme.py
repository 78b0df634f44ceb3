"""The README documents every config key."""

from pathlib import Path

from ftgui.core.config import RunConfig

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_config_key_is_documented():
    for section, values in RunConfig().to_dict().items():
        for key in values:
            assert f"`{section}.{key}`" in README, f"{section}.{key} missing from README"
