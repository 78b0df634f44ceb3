"""The README documents every config key."""

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


def test_readme_lists_the_system_packages_the_xcb_window_needs():
    """Every library PySide6's xcb plugin links against (real ldd output, kept in
    tests/fixtures/) that ftgui knows a package for is in the README's apt and dnf lines,
    which CI installs (the apt one) and people copy."""
    import re

    from ftgui.core.qt_platform import PACKAGES

    ldd = (Path(__file__).resolve().parent / "fixtures" / "ldd-libqxcb-debian12.txt").read_text()
    linked = set(re.findall(r"^\s*(\S+\.so\.\d+) =>", ldd, re.M)) & set(PACKAGES)
    apt = README.split("\nsudo apt install ", 1)[1].split("\n", 1)[0].split()
    dnf = README.split("\nsudo dnf install ", 1)[1].split("\n", 1)[0].split()
    assert {PACKAGES[n][0] for n in linked} <= set(apt)
    assert {PACKAGES[n][1] for n in linked} <= set(dnf)
    assert set(apt) <= {deb for deb, _ in PACKAGES.values()}
    assert set(dnf) <= {rpm for _, rpm in PACKAGES.values()}
