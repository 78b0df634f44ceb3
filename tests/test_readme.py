"""The README documents every config key and starts with the two set-up commands."""

from pathlib import Path

from ftgui.core.config import RunConfig

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_config_key_is_documented():
    for section, values in RunConfig().to_dict().items():
        for key in values:
            assert f"`{section}.{key}`" in README, f"{section}.{key} missing from README"


def test_readme_starts_with_two_setup_commands():
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert commands[0].endswith("ftgui") and "pytest" in commands[1]
