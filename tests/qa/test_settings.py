"""`Settings`: the one reader of the `ALUQA_*` variables, and how their values reach the stages."""

from __future__ import annotations

import pytest

from embeddings.places import DEFAULT_CORPUS_DIR, DEFAULT_INDEX_DIR
from embeddings.model.onnx_export import pairs_saturate
from qa.settings import DEFAULT_INT8, Settings, SettingsError, parse_int8

VARIABLES = ("ALUQA_CORPUS_DIR", "ALUQA_INDEX_DIR", "ALUQA_CACHE_DIR", "ALUQA_MODEL", "ALUQA_STORE", "ALUQA_RUNTIME",
             "ALUQA_INT8", "ALUQA_SELECTOR", "ALUQA_API_KEY")


@pytest.fixture
def clean(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_the_defaults_when_nothing_is_set(clean, tmp_path):
    settings = Settings()
    assert settings.corpus_dir == DEFAULT_CORPUS_DIR and settings.index_dir == DEFAULT_INDEX_DIR
    assert settings.cache_dir == tmp_path / "home" / ".cache" / "aluqa"
    assert (settings.model, settings.store, settings.runtime, settings.selector, settings.api_key) == (
        None, "local", "auto", "trained", None)
    assert settings.int8 == DEFAULT_INT8
    # The selector answers in int8 by default only where the CPU's int8 products are not added in pairs.
    assert DEFAULT_INT8 == ({"query"} if pairs_saturate() else {"selector", "query"})


def test_each_variable_is_read_when_settings_are_made(clean, tmp_path):
    clean.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings().cache_dir == tmp_path / "xdg" / "aluqa"
    values = {"ALUQA_CORPUS_DIR": tmp_path / "c", "ALUQA_INDEX_DIR": tmp_path / "i", "ALUQA_CACHE_DIR": tmp_path / "k"}
    for name, value in values.items():
        clean.setenv(name, f" {value} ")  # blanks around a value are not part of it
    clean.setenv("ALUQA_MODEL", "some/model")
    clean.setenv("ALUQA_STORE", "milvus:./a.db")
    clean.setenv("ALUQA_RUNTIME", "onnx")
    clean.setenv("ALUQA_INT8", "none")
    clean.setenv("ALUQA_SELECTOR", "off")
    clean.setenv("ALUQA_API_KEY", "k1")
    settings = Settings()
    assert (settings.corpus_dir, settings.index_dir, settings.cache_dir) == tuple(values.values())
    assert (settings.model, settings.store, settings.runtime, settings.int8, settings.selector, settings.api_key) == (
        "some/model", "milvus:./a.db", "onnx", frozenset(), "off", "k1")
    # A value given to the constructor wins; a blank variable counts as unset.
    assert Settings(selector="trained").selector == "trained"
    clean.setenv("ALUQA_SELECTOR", "  ")
    assert Settings().selector == "trained"


def test_aluqa_int8_names_the_models_that_answer_in_int8():
    assert parse_int8(None) == DEFAULT_INT8
    assert parse_int8("none") == frozenset()
    assert parse_int8("all") == {"selector", "query"}
    assert parse_int8(" Selector ") == {"selector"}
    with pytest.raises(SettingsError, match="unknown documents"):
        parse_int8("selector,documents")
    with pytest.raises(SettingsError, match="int8"):
        Settings(int8=frozenset({"documents"}))


def test_a_bad_variable_is_one_clear_line_and_exit_2(clean, capsys):
    from ui.cli import main

    clean.setenv("ALUQA_INT8", "fast")
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "aluqa list: ALUQA_INT8='fast': unknown fast; use none, all or a list of selector, query"


def test_the_values_reach_the_encoder_and_the_selector(clean, tmp_path):
    from qa.api import encoder_for
    from qa.selector import AnswerSelector, selector_onnx_path

    settings = Settings(cache_dir=tmp_path / "k", int8=frozenset({"query"}))
    # Another model: sentence-transformers, made without loading anything.
    encoder = encoder_for(settings, "some/other-model")
    assert encoder.name == "some/other-model"
    selector = AnswerSelector(int8="selector" in settings.int8, cache_dir=settings.cache_dir)
    assert not selector.int8 and selector.name.endswith(selector.config.version)
    assert selector_onnx_path(selector.config, settings.cache_dir).parent == tmp_path / "k" / "selector"
