"""The page's three languages: choosing one from the browser, and looking up its messages."""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

# Page language -> (name shown in the switch, catalogue module under ui.messages).
LANGUAGES: dict[str, tuple[str, str]] = {
    "zh-Hans": ("简体中文", "zh_hans"),
    "zh-Hant": ("繁體中文", "zh_hant"),
    "en": ("English", "en"),
}
DEFAULT_LANGUAGE = "en"
# Chinese tags read in traditional characters; every other zh tag reads simplified.
_TRADITIONAL = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")
# Gradio's own front-end picks its locale from the browser among the ones it ships,
# zh-CN and zh-TW among them; its translations of our labels are keyed the same way.
GRADIO_LOCALES = {"en": "en", "zh-CN": "zh-Hans", "zh-TW": "zh-Hant"}

_catalogues: dict[str, dict[str, str]] = {}


def catalogue(lang: str) -> dict[str, str]:
    """The messages of a page language (unknown languages get English)."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    if lang not in _catalogues:
        _catalogues[lang] = import_module(f"ui.messages.{LANGUAGES[lang][1]}").MESSAGES
    return _catalogues[lang]


def t(lang: str, key: str, **values: Any) -> str:
    """One message in `lang`, with its `{fields}` filled; a count of 1 uses the `_one` form where there is one."""
    messages = catalogue(lang)
    if values.get("count") == 1 and f"{key}_one" in messages:
        key = f"{key}_one"
    return messages[key].format(**values)


def language_of_tag(tag: str) -> str | None:
    """The page language for one BCP 47 tag, or None when it is neither Chinese nor English."""
    tag = tag.strip().lower().replace("_", "-")
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-Hant" if tag.startswith(_TRADITIONAL) else "zh-Hans"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def choose_language(accept_language: str | None) -> str:
    """The page language for an Accept-Language header.

    The most preferred Chinese or English tag decides (by q-value, then order):
    zh-TW, zh-HK, zh-MO and zh-Hant give traditional Chinese, any other zh tag
    simplified, en English; a header with neither gives English.
    """
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        match = re.search(r"q\s*=\s*([^;,\s]*)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0  # a malformed weight: the tag is not trusted
        lang = language_of_tag(tag)
        if lang is not None and quality > 0:
            ranked.append((-quality, position, lang))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def request_language(request: Any) -> str:
    """The page language for a Gradio request (its Accept-Language header); English without one."""
    headers = getattr(request, "headers", None) or {}
    try:
        return choose_language(headers.get("accept-language"))
    except AttributeError:
        return DEFAULT_LANGUAGE


def localize_error(message: str, lang: str, code: str = "", params: dict | None = None) -> str:
    """A question error in `lang`, by its code (`QuestionError.code`); one without a code the
    catalogue knows is shown as it is (an index message, a date the filter cannot read)."""
    key = f"error_{code}"
    if code and key in catalogue(lang):
        return t(lang, key, **(params or {}))
    return message


def localize_note(note: dict, lang: str) -> str:
    """One note of an answer (`Answer.to_dict()["notes"][i]`) in `lang`, by its code; else its text."""
    key = f"note_{note.get('code') or ''}"
    if note.get("code") and key in catalogue(lang):
        return t(lang, key, **(note.get("params") or {}))
    return str(note.get("text", ""))


def localize_notes(reply: dict, lang: str) -> str:
    """All notes of a reply in `lang`, joined; a reply without typed notes shows its `note` line."""
    notes = reply.get("notes")
    if notes:
        return "; ".join(localize_note(note, lang) for note in notes)
    return str(reply.get("note") or "")
