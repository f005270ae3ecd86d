"""The chat page in a real browser (Debian's Chromium via Playwright) with the real QA on a copy of seeds/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
# Answering takes a second or two; a rebuild after an upload may embed the whole corpus.
ANSWER_MS = 120_000
REBUILD_MS = 600_000
NEW_ARTICLE = (
    "浏阳河市铝产业调查\n"
    "来源：浏阳河日报 2024-05-06\n"
    "2023年，浏阳河市再生铝产量达到7777.7万吨，创历史新高。\n"
    "该市共有再生铝企业58家，全部位于浏阳河经济开发区。\n"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (install it with: "
                                                    "apt-get install chromium; `make test` tries to)"),
]



@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The page served with the real QA over a copy of seeds/ and its own index (uploads stay in tmp)."""
    from embeddings.corpus.build import build_index, index_is_current
    from qa import QA, Settings
    from ui import app

    root = tmp_path_factory.mktemp("browser")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(SEEDS, corpus)
    if index_is_current(SEEDS, ROOT / "index"):
        shutil.copytree(ROOT / "index", index)  # the same corpus and model: no need to embed again
    else:
        build_index(corpus, index)
    qa = QA(index, settings=Settings(corpus_dir=corpus))
    qa.warm_up()
    demo = app.build_demo(qa).queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, show_error=False,
                css=app.CSS, i18n=app.I18N)
    try:
        yield {"url": f"http://127.0.0.1:{port}/", "root": root, "corpus": corpus, "index": index, "qa": qa}
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, site, width=1280, height=900, locale="en-US"):
    """A page in a browser whose language is `locale` (navigator.language and Accept-Language)."""
    page = browser.new_context(viewport={"width": width, "height": height}, locale=locale).new_page()
    page.goto(site["url"])
    page.wait_for_selector("#aluqa-question textarea", timeout=ANSWER_MS)
    # The page's load event sets the language the server chose from Accept-Language.
    page.wait_for_function("document.querySelector('#aluqa-language input:checked') !== null", timeout=ANSWER_MS)
    return page


def _ask(page, question: str, timeout: int = ANSWER_MS):
    """Type a question, press Enter and return the newest reply's element once it has arrived."""
    before = page.locator('[data-testid="bot"]').count()
    box = page.locator("#aluqa-question textarea")
    box.fill(question)
    box.press("Enter")
    page.locator('[data-testid="bot"]').nth(before).wait_for(timeout=timeout)
    return page.locator('[data-testid="bot"]').nth(before)


def test_answer_with_citation_sources_and_follow_ups(browser, site):
    page = _open(browser, site)
    reply = _ask(page, "2022年百色市铝产业总产值是多少？")
    text = reply.inner_text()
    assert "1045亿元" in text
    assert reply.locator("strong", has_text="1045亿元").count() == 1  # the asked-for figure
    assert "004_7ed03d3179984da0.txt" in reply.locator("p", has_text="¶").first.inner_text()
    summary = reply.locator("summary")
    assert summary.inner_text().startswith("Sources")
    assert not reply.locator("mark").first.is_visible()  # the sources start collapsed
    summary.click()
    assert "1045亿元" in reply.locator("mark").first.inner_text()
    assert "score" in reply.locator("details").inner_text()
    page.screenshot(path=str(site["root"] / "desktop-answer.png"), full_page=True)

    follow = _ask(page, "那电解铝占全国多少？")
    assert "Understood as: 2022年百色市电解铝占全国多少？" in follow.inner_text()
    assert "5.24%" in follow.inner_text()

    page.locator("#aluqa-clear").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=bot]').length === 0", timeout=ANSWER_MS)
    _ask(page, "百色市铝产业总产值是多少？")
    other = _ask(page, "廣元呢？")
    assert "Understood as: 廣元市铝产业总产值是多少？" in other.inner_text()
    assert "85.6億元" in other.inner_text()  # the traditional article, in its own script
    page.screenshot(path=str(site["root"] / "desktop-follow-up.png"), full_page=True)
    page.close()


def test_no_answer_and_escaped_question(browser, site):
    page = _open(browser, site)
    reply = _ask(page, "火星上有多少座铝厂？")
    assert "The corpus holds no answer to this question." in reply.inner_text()
    assert reply.locator("summary").inner_text().startswith("Closest material (not an answer)")

    attack = "<script>window.__xss=1</script>"
    _ask(page, attack)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator('[data-testid="user"]').last.inner_text().strip() == attack
    page.screenshot(path=str(site["root"] / "desktop-no-answer.png"), full_page=True)
    page.close()


def test_upload_makes_an_article_answerable(browser, site, tmp_path):
    page = _open(browser, site)
    article = tmp_path / "浏阳河 survey.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    page.get_by_text("Add articles", exact=True).click()
    page.locator("#aluqa-upload").locator("xpath=..").locator("input[type=file]").set_input_files(str(article))
    status = page.locator("#aluqa-upload-status")
    status.get_by_text("Added and indexed").wait_for(timeout=REBUILD_MS)
    assert "浏阳河_survey.txt" in status.inner_text()
    assert (site["corpus"] / "浏阳河_survey.txt").read_text(encoding="utf-8") == NEW_ARTICLE

    reply = _ask(page, "2023年浏阳河市再生铝产量是多少？")
    assert "7777.7万吨" in reply.inner_text() and "浏阳河_survey.txt" in reply.inner_text()

    page.get_by_text("Articles in the index", exact=True).click()
    listing = page.locator("#aluqa-articles")
    listing.get_by_text("浏阳河_survey.txt").wait_for(timeout=ANSWER_MS)
    assert "6 articles in the index" in listing.inner_text()
    page.screenshot(path=str(site["root"] / "desktop-upload.png"), full_page=True)
    page.close()


def test_phone_width_layout(browser, site):
    page = _open(browser, site, width=390, height=844)
    reply = _ask(page, "魏橋創業集團三年關停了幾個熱電廠？")
    assert "42臺" in reply.inner_text() or "5個" in reply.inner_text()
    reply.locator("summary").click()
    page.get_by_text("Articles in the index", exact=True).click()
    page.locator("#aluqa-articles table").wait_for(timeout=ANSWER_MS)
    # Nothing is wider than the screen: the page never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    reply.locator("summary").click()  # folded again, so the screenshot shows the answer itself
    page.screenshot(path=str(site["root"] / "phone.png"), full_page=True)
    page.close()
