"""Tests for embeddings.text.clean on the real seeds and on small made-up texts."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embeddings.text.clean import clean_article, clean_text, extract_metadata, line_kind

SEEDS = Path(__file__).resolve().parents[3] / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt"))
# A bracketed lower-case Latin run with a tone mark: what an annotation looks like.
TONED_RUN = re.compile(r"[(（][a-zü\u00e0-\u01dc ]*[\u00e0-\u01dc][a-zü\u00e0-\u01dc ]*[)）]")


def _seed(prefix: str) -> tuple[str, str]:
    path = next(p for p in SEED_FILES if p.name.startswith(prefix))
    return path.name, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cleaned() -> dict[str, str]:
    return {p.name[:3]: clean_text(p.read_text(encoding="utf-8")).text for p in SEED_FILES}


def test_seeds_present():
    assert len(SEED_FILES) == 5


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_origin_map_is_exact(path):
    raw = path.read_text(encoding="utf-8")
    result = clean_text(raw)
    assert len(result.origin) == len(result.text)
    assert all(raw[o] == ch for o, ch in zip(result.origin, result.text))
    assert list(result.origin) == sorted(set(result.origin))  # kept in raw order


@pytest.mark.parametrize("prefix", ["000", "001", "002"])
def test_pinyin_gone(cleaned, prefix):
    assert TONED_RUN.search(_seed(prefix)[1])  # the raw file does hold them
    assert not TONED_RUN.search(cleaned[prefix])
    assert "(xiàn)" not in cleaned[prefix] and "(wǎng)" not in cleaned[prefix]


def test_real_brackets_kept(cleaned):
    assert "各區(縣)長" in cleaned["000"]
    assert "海納川(濱州)" in cleaned["000"]
    assert "各縣(市、區)分管" in cleaned["001"]
    assert "(广西)" in cleaned["004"] and "(2017-2025年)" in cleaned["003"]


def test_duplicate_body_kept_once(cleaned):
    text = cleaned["000"]
    assert text.count("停運42臺機組") == 1
    paragraphs = text.split("\n")
    assert len(paragraphs) == len(set(paragraphs))


def test_mojibake_not_repaired(cleaned):
    assert "能夠?qū)崿F的" in cleaned["000"]


def test_furniture_gone(cleaned):
    everything = "\n".join(cleaned.values())
    for junk in ("22.jpg", "28.jpg", "保存海报", "暂无评论", "全部评论", "询盘", "加载中",
                 "版權", "版权", "轉載", "转载", "责任编辑", "責任編輯", "瀏覽", "浏览",
                 "点击数", "如需了解更多信息", "资讯", "凤铝铝业展馆首页"):
        assert junk not in everything, junk
    assert not re.search(r"(?m)^(\||提示|确定|取消|来源|發布|发布)$", everything)
    assert "來源:廣元經開區" not in cleaned["002"]
    assert "《滨州日报》报道" not in cleaned["003"]


def test_figures_kept(cleaned):
    assert "1045亿元" in cleaned["004"]
    assert "959.33万吨" in cleaned["004"]
    assert "占全区78.6这一组组" in cleaned["004"]
    assert "3950亿元" in cleaned["003"] and "50.1%" in cleaned["003"]


def test_whitespace_collapsed(cleaned):
    for text in cleaned.values():
        assert "\n\n" not in text and not text.startswith(("\n", " ")) and text == text.strip()
        assert all(line == line.strip() for line in text.split("\n"))
        assert not re.search(r"[ \u3000]{2}", text)


@pytest.mark.parametrize(
    ("prefix", "title", "source", "date"),
    [
        ("000", "12月25日上午,濱州市打造高端鋁產業集群", "中華壓鑄網", ""),
        ("001", "濱州市鋁產業鏈高質量發展推進會議召開", "中國有色金屬報", "2022-08-14"),
        ("002", "7月17日,廣元市鋁產業聯盟成立大會", "廣元經開區", ""),
        ("003", "【集群】高端铝产业专班:创新驱动 智能引领 全力打造世界高端铝业基地",
         "滨州日报", "2021-01-22"),
        ("004", "7月30日,2023中国产业转移发展对接活动", "", "2023-08-02"),
    ],
)
def test_metadata(prefix, title, source, date):
    doc, raw = _seed(prefix)
    article = clean_article(raw, doc)
    assert article.title.startswith(title)
    assert len(article.title) <= 41
    assert (article.source, article.date) == (source, date)
    assert article.doc == doc
    assert article.content_hash == hashlib.sha256(raw.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("創(chuà ng)新", "創新"),
        ("網(wǎng)產(chǎn)業(yè)", "網產業"),
        ("A（wǎng）B", "AB"),
        ("綠(lǜ)色", "綠色"),
        ("倫敦金屬交易所(LME)鋁價", "倫敦金屬交易所(LME)鋁價"),
        ("加入(QQ)群", "加入(QQ)群"),
        ("各區(qū)(縣)長", "各區(縣)長"),
        ("數量(0 件", "數量(0 件"),
        ("的(de)東西", "的(de)東西"),  # toneless, no annotation pattern: keep
        ("網(wǎng)產(chǎn)業(yè)好的(de)東西", "網產業好的東西"),  # pattern shown: remove
        ("網(wǎng)產(chǎn)業(yè)條款(a)和(ii)", "網產業條款(a)和(ii)"),
        ("see (wǎng) here", "see (wǎng) here"),  # set apart by a space: a gloss
        ("中国(China)", "中国(China)"),
    ],
)
def test_pinyin_rule(raw, expected):
    assert clean_text(raw).text == expected


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("23.JPG", "junk"),
        ("photo_1.png", "junk"),
        ("|", "junk"),
        ("评论(3)", "junk"),
        ("分享到 微信 微博", "junk"),
        ("电话 暂无! 手机 暂无!", "junk"),
        ("某某网站首页", "junk"),
        ("2021年01月22日 14:04:00", "meta"),
        ("2020-5-6", "meta"),
        ("31258 浏览", "meta"),
        ("阅读:120", "meta"),
        ("来源:新华网", "meta"),
        ("来自:网络日期:2023-08-02点击数:1920评论(0)", "meta"),
        ("声明:本站内容版权归原作者所有。", "junk"),
        ("2022年,全市铝产业总产值1045亿元,占广西铝产业的80%以上。", ""),
        ("近距离感受百色铝产业蓬勃发展力", ""),
        ("会议现场。", ""),
        ("该公司获得原创技术授权,营收增长12%。", ""),
        ("2023年铝业发展报告发布", ""),
    ],
)
def test_line_kind(line, kind):
    assert line_kind(line) == kind


def test_newlines_and_spaces_with_origin():
    raw = "第一段\r\n\r\n  第二\u3000\u3000段  有 \t 空格\r\n\ufeff"
    result = clean_text(raw)
    assert result.text == "第一段\n第二\u3000段 有 空格"
    assert all(raw[o] == ch for o, ch in zip(result.origin, result.text))


def test_repeat_detected_after_space_collapse():
    assert clean_text("同一段  文字。\n別的。\n同一段 文字。").text == "同一段 文字。\n別的。"


def test_no_metadata_gives_empty_fields():
    raw = "某公司今年擴產。產能達到100萬噸。"
    title, source, date = extract_metadata(raw, clean_text(raw).text)
    assert (title, source, date) == ("某公司今年擴產。", "", "")


def test_generic_source_ignored_and_month_date():
    raw = "标题一行\n来源:网络 作者:某人\n发布时间:2023年5月\n正文说了一件事。"
    title, source, date = extract_metadata(raw, clean_text(raw).text)
    assert (title, source, date) == ("标题一行", "", "2023-05")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("網產業(wǎng)yè é\n\r\t \u3000。,0.5abcLME|jpg声明版权转载")),
               max_size=80))
def test_origin_map_property(raw):
    result = clean_text(raw)
    assert len(result.origin) == len(result.text)
    for o, ch in zip(result.origin, result.text):
        assert raw[o] == ch or (ch == "\n" and raw[o] == "\r")
