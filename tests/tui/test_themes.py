"""Themes: TOML files loaded into Textual themes, chosen by --theme or LBTUI_THEME, and no
colour written anywhere else in the console."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lbtui.themes import (
    SEMANTIC_KEYS,
    THEMES_DIR,
    VARIABLE_PREFIX,
    ThemeError,
    choose_theme,
    load_themes,
    parse_theme,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = (THEMES_DIR / "dark.toml").read_text()


def test_the_shipped_themes_load_with_every_semantic_colour() -> None:
    themes = load_themes()
    assert {"dark", "light", "colorblind"} <= set(themes)
    assert not themes["light"].dark
    for theme in themes.values():
        assert set(theme.variables) == {VARIABLE_PREFIX + k for k in SEMANTIC_KEYS}


def test_the_colour_blind_theme_keeps_alive_and_dead_apart() -> None:
    # Okabe-Ito: blue for alive, vermillion for dead (never red against green).
    theme = load_themes()["colorblind"]
    assert theme.variables["lb-alive"].lower() == "#56b4e9"
    assert theme.variables["lb-dead"].lower() == "#d55e00"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = [", "not TOML"),
        (GOOD.replace('name = "dark"', "name = 3"), "name"),
        (GOOD.replace('alive = "#6cc070"', 'alive = "#zzzzzz"'), "[semantic].alive"),
        (GOOD.replace('alive = "#6cc070"\n', ""), "missing alive"),
        (GOOD.replace('muted = "#7f8c98"', 'muted = "#7f8c98"\nsparkle = "#fff"'), "sparkle"),
        (GOOD.replace("[base]", "[bass]"), "[base]"),
    ],
)
def test_a_bad_theme_file_is_refused_with_its_name(text: str, message: str) -> None:
    with pytest.raises(ThemeError) as info:
        parse_theme(text, "themes/broken.toml")
    assert "themes/broken.toml" in str(info.value) and message in str(info.value)


def test_a_directory_with_a_bad_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD)
    (tmp_path / "b.toml").write_text(GOOD)  # the same name twice
    with pytest.raises(ThemeError, match="defined twice"):
        load_themes(tmp_path)
    with pytest.raises(ThemeError, match="no theme files"):
        load_themes(tmp_path / "nothing")


def test_theme_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    themes = load_themes()
    monkeypatch.delenv("LBTUI_THEME", raising=False)
    assert choose_theme(None, themes) == "dark"
    monkeypatch.setenv("LBTUI_THEME", "light")
    assert choose_theme(None, themes) == "light"
    assert choose_theme("colorblind", themes) == "colorblind"  # --theme wins
    with pytest.raises(ThemeError, match="available: colorblind, dark, light"):
        choose_theme("neon", themes)


COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(|Color\(\d|color=\"\w")
NAMED = re.compile(
    r":\s*(red|green|blue|yellow|white|black|magenta|cyan|orange|purple|grey|gray)\b"
)


def test_no_colour_literal_outside_the_theme_files() -> None:
    offenders = []
    for path in sorted((ROOT / "lbtui").rglob("*")):
        if path.suffix not in (".py", ".tcss"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if COLOUR.search(line) or (path.suffix == ".tcss" and NAMED.search(line)):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
