"""Tests of adding articles (page upload and `aluqa add`) and of follow-ups on the page, with the stub encoder."""

from __future__ import annotations

import shutil

import pytest

from conftest import SEEDS, StubEncoder
from embeddings.store.manifest import Manifest
from qa import QA, Settings
from qa.conversation import ConversationState
from test_app import FakeQA
from embeddings.corpus import articles as corpus_articles
from ui import app, articles
from ui.render import articles_table, upload_message

NEW_ARTICLE = (
    "测试市铝产业发展报告\n"
    "来源：测试日报 2024-03-05\n"
    "2023年，测试市铝产业总产值达到987.65亿元，同比增长12.3%。\n"
    "测试市共有铝加工企业321家。\n"
)


@pytest.fixture()
def corpus_and_qa(tmp_path, stub_encoder, stub_index_dir):
    """A copy of seeds/ and of the stub index in tmp_path, and a QA over them."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(stub_index_dir, index)
    settings = Settings(corpus_dir=corpus, dense_band=(0.3, 0.7), selector="off")
    return corpus, QA(index, settings=settings, encoder=stub_encoder)


def _write(folder, name, data):
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_uploaded_article_is_answerable_in_the_same_session(tmp_path, corpus_and_qa):
    corpus, qa = corpus_and_qa
    upload = _write(tmp_path, "测试 report.TXT", NEW_ARTICLE)
    message, listing = app.upload(qa, [str(upload)])
    assert "Added and indexed" in message and "测试_report.txt" in message
    assert (corpus / "测试_report.txt").read_text(encoding="utf-8") == NEW_ARTICLE
    assert "测试_report.txt" in listing and "6 articles" in listing
    reply = qa.ask("测试市铝产业总产值是多少？")
    assert reply.found and "987.65亿元" in reply.sentence and reply.citation.doc == "测试_report.txt"


def test_gb18030_article_is_accepted_and_kept_as_uploaded(tmp_path, corpus_and_qa):
    corpus, qa = corpus_and_qa
    upload = _write(tmp_path, "gbk.md", NEW_ARTICLE.encode("gb18030"))
    report = articles.add_to_qa(qa, [upload])
    assert report.added == ("gbk.md",) and not report.refused
    assert (corpus / "gbk.md").read_bytes() == NEW_ARTICLE.encode("gb18030")


@pytest.mark.parametrize("name, data, reason", [
    ("binary.txt", b"\x00\x01\x02abc" * 10, "binary"),
    ("empty.txt", b"   \n", "empty"),
    ("script.exe", "测试市铝产业".encode("utf-8"), "only .txt, .md, .html, .htm, .pdf, .docx"),
])
def test_refused_file_is_named_and_nothing_is_written(tmp_path, corpus_and_qa, name, data, reason):
    corpus, qa = corpus_and_qa
    before = sorted(p.name for p in corpus.iterdir())
    message, _ = app.upload(qa, [str(_write(tmp_path, name, data))])
    assert f"Refused — {name}" in message and reason in message and "Nothing was written" in message
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_too_big_file_is_refused(tmp_path, corpus_and_qa, monkeypatch):
    corpus, qa = corpus_and_qa
    monkeypatch.setattr("embeddings.text.read.MAX_ARTICLE_BYTES", 100)
    report = articles.add_to_qa(qa, [_write(tmp_path, "big.txt", NEW_ARTICLE * 5)])
    assert report.refused and "big.txt" in report.refused[0] and "limit" in report.refused[0]
    assert not (corpus / "big.txt").exists()


def test_existing_file_is_never_overwritten(tmp_path, corpus_and_qa):
    corpus, qa = corpus_and_qa
    existing = sorted(corpus.iterdir())[0]
    original = existing.read_bytes()
    report = articles.add_to_qa(qa, [_write(tmp_path, existing.name, NEW_ARTICLE)])
    assert report.added == (f"{existing.stem}-2.txt",)
    assert existing.read_bytes() == original


def test_same_content_is_reported_as_present_and_not_rebuilt(tmp_path, corpus_and_qa):
    corpus, qa = corpus_and_qa
    seed = sorted(SEEDS.iterdir())[0]
    report = articles.add_to_qa(qa, [_write(tmp_path, "copy.txt", seed.read_bytes())])
    assert not report.added and report.present == (f"copy.txt: already in the corpus as {seed.name}",)
    assert not (corpus / "copy.txt").exists() and report.summary == ""


def test_unsafe_name_stays_inside_the_corpus(tmp_path, corpus_and_qa):
    corpus, qa = corpus_and_qa
    report = corpus_articles.add_articles([_write(tmp_path, "x.txt", NEW_ARTICLE)], corpus, qa.settings.index_dir,
                                   encoder=qa._encoder, names=["../../evil.txt"])
    assert report.added == ("evil.txt",) and (corpus / "evil.txt").is_file()
    assert not (tmp_path / "evil.txt").exists()


def test_failed_rebuild_removes_what_was_added(tmp_path, corpus_and_qa, monkeypatch):
    corpus, qa = corpus_and_qa

    def broken_build(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("embeddings.corpus.build.build_index", broken_build)
    before = sorted(p.name for p in corpus.iterdir())
    message, _ = app.upload(qa, [str(_write(tmp_path, "new.txt", NEW_ARTICLE))])
    assert "server log" in message
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_cli_add(tmp_path, stub_index_dir, monkeypatch, capsys):
    from ui.cli import main

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(stub_index_dir, index)
    # The CLI loads the index's model by name; here that name is the stub's.
    monkeypatch.setattr("embeddings.model.encoder.load_encoder", lambda *args, **kwargs: StubEncoder())
    good = _write(tmp_path, "new.txt", NEW_ARTICLE)
    bad = _write(tmp_path, "bad.txt", b"\x00\x00")
    assert main(["add", str(good), str(bad), "--corpus", str(corpus), "--index", str(index)]) == 2
    out, err = capsys.readouterr()
    assert f"added new.txt to {corpus}" in out and "indexed 6 documents" in out
    assert "refused bad.txt: binary" in err
    assert Manifest.read(index).documents == 6 and not (corpus / "bad.txt").exists()


def test_article_list_is_escaped_and_names_files():
    html = articles_table([{"title": "<b>标题</b>", "source": "", "date": "2023-01-02", "doc": "a_b.txt"}])
    assert "&lt;b&gt;标题&lt;/b&gt;" in html and "<code>a_b.txt</code>" in html and "2023-01-02" in html
    assert "1 article in the index" in html
    assert "<p>The article list is not available" in app.list_articles(FakeQA())


def test_upload_message_names_every_file():
    html = upload_message(("a.txt",), ("b.txt: already in the corpus as c.txt",), ("<d>.txt: binary",))
    assert "<code>a.txt</code>" in html and "b.txt" in html and "&lt;d&gt;.txt" in html


# --- follow-ups on the page -----------------------------------------------------------

def test_follow_up_is_shown_as_understood_and_state_is_kept():
    qa = FakeQA()
    _, history, state = app.chat(qa, "2022年百色市铝产业总产值是多少？", [], None)
    assert "Understood as" not in history[-1]["content"] and state.place == "百色市"
    _, history, state = app.chat(qa, "那电解铝占全国多少？", history, state)
    assert "<em>Understood as: 2022年百色市电解铝占全国多少？</em>" in history[-1]["content"]
    assert history[-2]["content"] == "<p>那电解铝占全国多少？</p>"  # the question is shown as typed
    assert state.question == "2022年百色市电解铝占全国多少？"


def test_unaskable_question_keeps_the_state():
    state = ConversationState(question="2022年百色市铝产业总产值是多少？", place="百色市", year="2022")
    _, history, kept = app.chat(FakeQA(), "   ", [], state)
    assert kept == state and "empty" in history[-1]["content"]


def test_answer_endpoint_stays_stateless():
    # The API answers the question as given, without follow-up resolution.
    assert app.respond(FakeQA(), "那电解铝占全国多少？")["question"] == "那电解铝占全国多少？"


def test_upload_and_remove_while_another_build_runs_say_so_and_change_nothing(tmp_path, corpus_and_qa):
    from concurrent.futures import ThreadPoolExecutor

    from embeddings.corpus.lock import build_lock

    corpus, qa = corpus_and_qa
    qa.warm_up()
    before = sorted(p.name for p in corpus.iterdir())
    upload = _write(tmp_path, "new.txt", NEW_ARTICLE)
    with build_lock(qa.settings.index_dir), ThreadPoolExecutor(1) as pool:
        added, _ = pool.submit(app.upload, qa, [str(upload)], "zh-Hans").result()
        removed, _ = pool.submit(app.remove, qa, before[0], "en").result()
    assert added.startswith("<p>索引未能重建，因此没有添加任何文章：another build of the index")
    assert removed.startswith("<p>The index could not be rebuilt, so nothing was removed: another build")
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_remove_from_the_page_lists_what_is_left(corpus_and_qa):
    corpus, qa = corpus_and_qa
    message, listing = app.remove(qa, "004_7ed03d3179984da0.txt", "zh-Hant")
    assert "已刪除，不再引用：<code>004_7ed03d3179984da0.txt</code>" in message
    assert "索引中共有 4 篇文章" in listing and "004_7ed03d3179984da0.txt" not in listing
    assert not qa.ask("2022年百色市铝产业总产值是多少？").found or \
        qa.ask("2022年百色市铝产业总产值是多少？").citation.doc != "004_7ed03d3179984da0.txt"
    message, _ = app.remove(qa, None, "en")
    assert message == "<p>Choose an article to remove first.</p>"


def test_an_upload_reports_the_stages_of_its_rebuild(tmp_path, corpus_and_qa):
    corpus, qa = corpus_and_qa
    stages = []
    message, _ = app.upload(qa, [str(_write(tmp_path, "progress.txt", NEW_ARTICLE))], on_stage=stages.append)
    assert "Added and indexed" in message
    assert len(stages) >= 2 and any("embed" in stage for stage in stages), stages
