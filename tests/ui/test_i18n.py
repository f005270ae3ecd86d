"""The page's languages: the catalogues, the choice from Accept-Language, and replies rendered in each."""

from __future__ import annotations

import re
import string

import pytest

from qa.api import QuestionError, prepare_question
from test_app import SENTENCE, FakeQA
from ui import app
from ui.chat import answer_turn, render_history
from ui.i18n import LANGUAGES, catalogue, choose_language, localize_error, localize_note, localize_notes, t
from ui.render import render_reply


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_catalogue_has_the_same_keys_and_fields():
    english = catalogue("en")
    for lang in LANGUAGES:
        messages = catalogue(lang)
        assert set(messages) - {k for k in messages if k.endswith("_one")} == \
            set(english) - {k for k in english if k.endswith("_one")}, lang
        for key, text in messages.items():
            assert _fields(text) == _fields(english[key.removesuffix("_one")] if key.endswith("_one")
                                            else english[key]) or key.endswith("_one"), (lang, key)


def test_chinese_catalogues_are_in_their_own_script():
    from embeddings.text.normalize import to_simplified

    hans, hant = catalogue("zh-Hans"), catalogue("zh-Hant")
    for key in ("not_found", "closest", "sources", "ask", "understood_as", "remove_button"):
        assert hans[key] != catalogue("en")[key] and hant[key] != hans[key]
        assert to_simplified(hans[key]) == hans[key] and to_simplified(hant[key]) != hant[key], key


@pytest.mark.parametrize("header, lang", [
    ("zh-CN", "zh-Hans"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"), ("zh", "zh-Hans"), ("zh-SG", "zh-Hans"),
    ("zh-TW", "zh-Hant"), ("zh-HK,zh;q=0.9", "zh-Hant"), ("zh-MO", "zh-Hant"), ("zh-Hant-TW", "zh-Hant"),
    ("zh_TW", "zh-Hant"), ("en-US,en;q=0.9", "en"), ("fr-FR", "en"), ("", "en"), (None, "en"),
    ("fr-FR, zh-TW;q=0.5", "zh-Hant"), ("en;q=0.5, zh-CN", "zh-Hans"), ("zh-CN;q=0, en", "en"),
    ("de, ja;q=0.8", "en"), ("zh-TW;q=abc, en", "en"),
])
def test_language_from_accept_language(header, lang):
    assert choose_language(header) == lang


def test_not_found_reply_in_each_language_keeps_the_passages_as_written():
    data = FakeQA().ask("火星上有铝厂吗？").to_dict()
    passage = "火星&lt;script&gt;alert(1)&lt;/script&gt;探测。"
    for lang, words in (("zh-Hans", "语料库中没有这个问题的答案。"), ("zh-Hant", "語料庫中沒有這個問題的答案。"),
                        ("en", "The corpus holds no answer to this question.")):
        html = render_reply(data, lang)
        assert words in html and passage in html
        assert t(lang, "closest") in html and t(lang, "passages", count=1) in html
    assert "问题只保留了前 500 个字符" in render_reply(data, "zh-Hans")


def test_found_reply_translates_labels_never_the_sentence():
    data = FakeQA().ask("2022年百色市铝产业总产值是多少？").to_dict()
    html = render_reply(data, "zh-Hant")
    assert "<summary>出處 — 2 段</summary>" in html and "得分 0.912" in html
    assert "百色市铝产业总产值达到<strong>1045亿元</strong>" in html  # simplified, as the article writes it
    assert "Sources" not in html and "score" not in html


@pytest.mark.parametrize("question", ["   ", "？？？", "123456"])
def test_question_errors_are_translated_by_their_code(question):
    with pytest.raises(QuestionError) as caught:
        prepare_question(question)
    error = caught.value
    assert error.code
    chinese = localize_error(str(error), "zh-Hans", error.code, error.params)
    assert chinese != str(error) and re.search(r"[\u4e00-\u9fff]", chinese.split("例如")[0])
    assert localize_error(str(error), "en", error.code, error.params)[0].isupper()


def test_a_reworded_message_keeps_its_translation():
    # The code, not the English wording, picks the translation.
    assert localize_error("any wording at all", "zh-Hant", "no_words") == t("zh-Hant", "error_no_words")


def test_an_unknown_message_is_shown_as_it_is():
    assert localize_error("no index at /x; rebuild it with: aluqa build --index /x", "zh-Hans").startswith("no index")
    assert localize_note({"code": "", "text": "something new"}, "zh-Hant") == "something new"


def test_notes_are_translated_by_their_code():
    from qa.api import OTHER_SCRIPT_NOTE, prepare

    _, notes = prepare("Что это? " * 80)
    reply = {"notes": [{"code": n.code, "text": n.text, "params": n.values()} for n in notes]}
    assert [n.code for n in notes] == ["cut", "other_script"]
    assert localize_notes(reply, "zh-Hans") == f"{t('zh-Hans', 'note_cut', count=500)}; {t('zh-Hans', 'note_other_script')}"
    assert localize_notes(reply, "en") == f"the question was cut to its first 500 characters; {OTHER_SCRIPT_NOTE}"


def test_every_code_the_answerer_gives_has_a_message_in_every_language():
    import ast
    from pathlib import Path

    from conftest import ROOT

    codes = set()
    for path in (ROOT / "qa").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "QuestionError" \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value:
                codes.add("error_" + node.args[1].value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Note" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                codes.add("note_" + node.args[0].value)
    assert {"error_empty", "error_no_words", "note_cut", "note_undated"} <= codes
    missing = {key for key in codes if key not in catalogue("en") and key != "error_not_text"}
    assert missing == set()


def test_switching_language_re_renders_the_same_conversation():
    qa, state, turns = FakeQA(), None, []
    for question in ("2022年百色市铝产业总产值是多少？", "那电解铝占全国多少？", "   "):
        turn, state = answer_turn(qa, question, state)
        turns.append(turn)
    english, chinese = render_history(turns, "en"), render_history(turns, "zh-Hans")
    assert [m["role"] for m in english] == [m["role"] for m in chinese]
    assert [m["content"] for m in english if m["role"] == "user"] == \
        [m["content"] for m in chinese if m["role"] == "user"]
    assert "Understood as: 2022年百色市电解铝占全国多少？" in english[3]["content"]
    assert "理解为：2022年百色市电解铝占全国多少？" in chinese[3]["content"]
    assert SENTENCE.split("，")[0] in chinese[1]["content"]
    assert "问题是空的" not in english[5]["content"]


def test_index_and_unexpected_errors_are_translated():
    turn, _ = answer_turn(FakeQA(), "index please", None)
    reply = render_history([turn], "zh-Hans")[1]["content"]
    assert reply.startswith("<p>索引无法使用：no index at /x") and "aluqa build --index /x" in reply
    turn, _ = answer_turn(FakeQA(), "boom", None)
    assert render_history([turn], "zh-Hant")[1]["content"] == f"<p>{t('zh-Hant', 'unexpected')}</p>"


def test_gradio_first_paint_translations_have_no_fields_left():
    # Gradio's front-end reads {...} as ICU message fields; every text handed to it is already filled.
    for locale, texts in app.I18N.translations_dict.items():
        assert set(texts) == set(app.STATIC_KEYS) and not [key for key, text in texts.items() if "{" in text], locale
    assert app.I18N.translations_dict["zh-TW"]["ask"] == "提問"
