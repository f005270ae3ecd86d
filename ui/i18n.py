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


# Messages of the question answerer (qa.api) that reach the page, by the key that translates them.
_KNOWN_ERRORS = (
    (re.compile(r"the question is empty: type a question, e\.g\. (?P<example>.+)$", re.S), "error_empty"),
    (re.compile(r"the question has no words to search for", re.S), "error_no_words"),
    (re.compile(r"the question is only a number \((?P<number>.*)\): say what you want to know about it, "
                r"e\.g\. (?P<example>.+)$", re.S), "error_only_number"),
)
_KNOWN_NOTES = (
    (re.compile(r"the question was cut to its first (?P<count>\d+) characters"), "note_cut"),
    (re.compile(r"AluQA reads questions in Chinese or English and its articles are in Chinese; "
                r"this question is written in another script"), "note_other_script"),
)


def localize_error(message: str, lang: str) -> str:
    """A question error in `lang`; one the catalogue does not know is shown as it is."""
    for pattern, key in _KNOWN_ERRORS:
        match = pattern.match(message)
        if match:
            values = match.groupdict()
            if "count" in values:
                values["count"] = int(values["count"])
            return t(lang, key, **values)
    return message


def localize_note(note: str, lang: str) -> str:
    """A note of the answerer in `lang`: each part the catalogue knows is translated, the rest kept."""
    for pattern, key in _KNOWN_NOTES:
        note = pattern.sub(lambda m: t(lang, key, **{k: int(v) for k, v in m.groupdict().items()}), note)
    return note
