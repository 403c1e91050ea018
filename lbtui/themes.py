"""Console themes: TOML files in ``themes/`` turned into Textual themes.

A theme file has ``name``, ``dark``, a ``[base]`` table (Textual's design colours: primary,
background, error, ...) and a ``[semantic]`` table naming what the console shows (membership
states, changed rows, usage bars, pulses). Semantic colours become CSS variables prefixed with
``lb-`` (``alive`` -> ``$lb-alive``) that app.tcss and the widgets use, so no colour is written
anywhere but in a theme file. Every theme must define every semantic colour, or the CSS would
not parse; a theme that does not is rejected with a message naming the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme


def _shipped_themes() -> Path:
    """The theme files installed with the package, as lbtui/_themes: in the source tree a
    link to the top-level themes/, in a wheel their copies (pyproject's package-data).

    Found next to this module rather than with importlib.resources: setuptools' editable
    install can make ``lbtui`` a namespace package, which resources.files() refuses.
    """
    return Path(__file__).resolve().parent / "_themes"


# The shipped themes, unless LBTUI_THEMES_DIR points elsewhere.
THEMES_DIR = Path(os.environ.get("LBTUI_THEMES_DIR") or _shipped_themes())
DEFAULT_THEME = "dark"
VARIABLE_PREFIX = "lb-"

BASE_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
)
SEMANTIC_KEYS = (
    "alive",
    "suspect",
    "dead",
    "changed",
    "bar-used",
    "bar-free",
    "pulse-low",
    "pulse-high",
    "l2",
    "bgp",
    "muted",
)


class ThemeError(Exception):
    """A theme file that cannot be used; the message names the file and the key."""


def parse_theme(text: str, source: str) -> Theme:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{source}: not TOML: {exc}") from exc
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ThemeError(f"{source}: name: a non-empty string is required")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{source}: dark: must be true or false")
    base = _colours(data.get("base"), source, "base", BASE_KEYS, required=("primary",))
    semantic = _colours(data.get("semantic"), source, "semantic", SEMANTIC_KEYS, SEMANTIC_KEYS)
    return Theme(
        name=name,
        dark=dark,
        variables={VARIABLE_PREFIX + key: value for key, value in semantic.items()},
        **base,
    )


def _colours(
    table: object, source: str, where: str, known: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ThemeError(f"{source}: [{where}]: table missing")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ThemeError(f"{source}: [{where}]: unknown key(s) {', '.join(unknown)}")
    missing = [key for key in required if key not in table]
    if missing:
        raise ThemeError(f"{source}: [{where}]: missing {', '.join(missing)}")
    out: dict[str, str] = {}
    for key, value in table.items():
        try:
            Color.parse(value)
        except (ColorParseError, TypeError, ValueError) as exc:
            raise ThemeError(f"{source}: [{where}].{key}: not a colour: {value!r}") from exc
        out[key] = value
    return out


def load_themes(directory: Path = THEMES_DIR) -> dict[str, Theme]:
    """Every ``*.toml`` theme in ``directory``, by name (raises ThemeError on a bad file)."""
    themes: dict[str, Theme] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ThemeError(f"{path}: cannot read: {exc}") from exc
        theme = parse_theme(text, str(path))
        if theme.name in themes:
            raise ThemeError(f"{path}: theme {theme.name!r} is defined twice")
        themes[theme.name] = theme
    if not themes:
        raise ThemeError(f"{directory}: no theme files (*.toml)")
    return themes


def choose_theme(requested: str | None, themes: dict[str, Theme]) -> str:
    """``--theme``, else ``LBTUI_THEME``, else the default; unknown names raise ThemeError."""
    name = requested or os.environ.get("LBTUI_THEME") or DEFAULT_THEME
    if name not in themes:
        raise ThemeError(f"unknown theme {name!r}; available: {', '.join(sorted(themes))}")
    return name
