"""The page in a real browser (Chromium via Playwright): its three languages, removing an article, verdicts."""

from __future__ import annotations

import json
import time

import pytest

from test_browser import ANSWER_MS, REBUILD_MS, _ask, _open, browser, site  # noqa: F401 (fixtures)
from test_browser import pytestmark as _browser_marks

# The same marks as the page's other browser tests: slow, and skipped without Chromium.
pytestmark = _browser_marks

NOT_FOUND_QUESTION = "火星上有多少座铝厂？"


@pytest.mark.parametrize("locale, ask, not_found, closest, placeholder", [
    ("zh-CN", "提问", "语料库中没有这个问题的答案。", "最接近的内容（不是答案）", "输入问题"),
    ("zh-TW", "提問", "語料庫中沒有這個問題的答案。", "最接近的內容（不是答案）", "輸入問題"),
    # Gradio's own front-end has no zh-HK; the server's choice from Accept-Language still applies.
    ("zh-HK", "提問", "語料庫中沒有這個問題的答案。", "最接近的內容（不是答案）", "輸入問題"),
    ("en-US", "Ask", "The corpus holds no answer to this question.", "Closest material (not an answer)", "Type a"),
])
def test_the_page_speaks_the_browsers_language(browser, site, locale, ask, not_found, closest, placeholder):
    page = _open(browser, site, locale=locale)
    page.locator("#aluqa-ask", has_text=ask).wait_for(timeout=ANSWER_MS)
    assert page.locator("#aluqa-question textarea").get_attribute("placeholder").startswith(placeholder)
    reply = _ask(page, NOT_FOUND_QUESTION)
    assert not_found in reply.inner_text()
    assert reply.locator("summary").inner_text().startswith(closest)
    # The question is shown as typed, in every language.
    assert page.locator('[data-testid="user"]').last.inner_text().strip() == NOT_FOUND_QUESTION
    page.screenshot(path=str(site["root"] / f"language-{locale}.png"), full_page=True)
    page.close()


def test_the_switch_changes_the_language_and_keeps_the_conversation(browser, site):
    page = _open(browser, site, locale="zh-CN")
    assert "语料库中没有这个问题的答案。" in _ask(page, NOT_FOUND_QUESTION).inner_text()
    reply = _ask(page, "2022年百色市铝产业总产值是多少？")
    assert "1045亿元" in reply.inner_text() and reply.locator("summary").inner_text().startswith("出处")

    page.get_by_text("English", exact=True).click()
    page.locator("#aluqa-ask", has_text="Ask").wait_for(timeout=ANSWER_MS)
    bots = page.locator('[data-testid="bot"]')
    assert bots.count() == 2 and "The corpus holds no answer to this question." in bots.nth(0).inner_text()
    assert "1045亿元" in bots.nth(1).inner_text()  # the sentence, as the article has it
    assert bots.nth(1).locator("summary").inner_text().startswith("Sources")
    assert [u.inner_text().strip() for u in page.locator('[data-testid="user"]').all()] == \
        [NOT_FOUND_QUESTION, "2022年百色市铝产业总产值是多少？"]

    page.get_by_text("繁體中文", exact=True).click()
    page.locator("#aluqa-ask", has_text="提問").wait_for(timeout=ANSWER_MS)
    assert page.locator('[data-testid="bot"]').nth(1).locator("summary").inner_text().startswith("出處")
    # The follow-up state survived the switches: the next question completes from the last one.
    follow = _ask(page, "那电解铝占全国多少？")
    assert "理解為：2022年百色市电解铝占全国多少？" in follow.inner_text() and "5.24%" in follow.inner_text()
    page.screenshot(path=str(site["root"] / "language-switch.png"), full_page=True)
    page.close()


def _add_article(site, tmp_path, name: str, text: str) -> None:
    from ui.articles import add_to_qa

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert add_to_qa(site["qa"], [path]).added == (name,)


def test_removing_an_article_from_the_page_asks_first_and_then_it_is_never_cited(browser, site, tmp_path):
    name = "月牙湖铝业.txt"
    _add_article(site, tmp_path, name, "月牙湖市铝业简报\n来源：月牙湖日报 2024-06-01\n"
                 "2023年，月牙湖市铝型材产量达到4321.5万吨。\n月牙湖市有铝型材企业17家。\n")
    question = "2023年月牙湖市铝型材产量是多少？"
    page = _open(browser, site)
    assert name in _ask(page, question).inner_text()

    page.get_by_text("Articles in the index", exact=True).click()
    page.locator("#aluqa-articles").get_by_text(name).wait_for(timeout=ANSWER_MS)

    def choose():
        page.locator("#aluqa-remove-choice input").click()
        page.get_by_role("option", name=name).click()
        page.locator("#aluqa-remove").click()
        confirm = page.locator("#aluqa-remove-confirm")
        confirm.get_by_text(name).wait_for(timeout=ANSWER_MS)
        return confirm

    confirm = choose()
    assert "It will no longer be cited" in confirm.inner_text()
    page.locator("#aluqa-remove-cancel").click()
    confirm.wait_for(state="hidden", timeout=ANSWER_MS)
    assert (site["corpus"] / name).exists()

    choose()
    page.locator("#aluqa-remove-yes").click()
    status = page.locator("#aluqa-remove-status")
    status.get_by_text("Removed and no longer cited").wait_for(timeout=REBUILD_MS)
    assert name in status.inner_text() and not (site["corpus"] / name).exists()
    page.wait_for_function(f"!document.querySelector('#aluqa-articles').innerText.includes({json.dumps(name)})",
                           timeout=ANSWER_MS)
    reply = _ask(page, question)
    assert name not in reply.inner_text()
    # The other articles answer as before.
    assert "1045亿元" in _ask(page, "2022年百色市铝产业总产值是多少？").inner_text()
    page.screenshot(path=str(site["root"] / "removed.png"), full_page=True)
    page.close()


def test_a_verdict_in_the_browser_lands_in_the_file_and_runs_as_a_qa_set(browser, site, tmp_path, capsys):
    from ui.cli import main
    from qa.training.feedback import feedback_path

    verdicts = feedback_path(site["index"])
    before = verdicts.read_text(encoding="utf-8").splitlines() if verdicts.exists() else []
    page = _open(browser, site)
    question = "2022年百色市铝产业总产值是多少？"
    _ask(page, question)
    page.locator("#aluqa-comment textarea").fill("全市铝产业总产值1045亿元")
    page.locator("#aluqa-chat button[aria-label='Dislike']").last.click()
    page.locator("#aluqa-verdict-status").get_by_text("is saved").wait_for(timeout=ANSWER_MS)
    assert page.locator("#aluqa-comment textarea").input_value() == ""
    page.locator("#aluqa-chat button[aria-label='Like']").last.click()  # changing one's mind

    def new_lines():
        return [json.loads(line) for line in verdicts.read_text(encoding="utf-8").splitlines()[len(before):]]

    deadline = time.monotonic() + ANSWER_MS / 1000
    while len(new_lines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = new_lines()
    assert [(v["question"], v["verdict"]) for v in lines] == [(question, "wrong"), (question, "right")]
    assert lines[0]["comment"] == "全市铝产业总产值1045亿元" and "1045亿元" in lines[0]["answer"]
    assert lines[0]["citation"]["doc"] == "004_7ed03d3179984da0.txt" and len(lines[0]["corpus_hash"]) == 64
    assert lines[1]["comment"] == ""  # the comment went with the first verdict
    page.close()

    qa_set = tmp_path / "verdicts_qa.jsonl"
    assert main(["feedback", "export", str(qa_set), "--index", str(site["index"])]) == 0
    items = [json.loads(line) for line in qa_set.read_text(encoding="utf-8").splitlines()]
    mine = [item for item in items if item["question"] == question]
    assert mine and mine[0]["doc"] == "004_7ed03d3179984da0.txt"
    capsys.readouterr()
    assert main(["eval", "--qa", str(qa_set), "--index", str(site["index"]), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["answerable"] >= 1 and figures["answerable_right"] >= 1
