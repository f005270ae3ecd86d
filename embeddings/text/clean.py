"""Turn a raw article file into clean text with an exact map back to the raw characters."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from embeddings.text.split import is_cjk, split_sentences
from embeddings.types import Article, CleanText

# Line breaks other than "\n" that editors and web scrapes leave behind.
_BREAKS = "\r\x0b\x0c\x85\u2028\u2029"
# Invisible characters that carry no text; dropped so they cannot glue tokens.
_INVISIBLE = "\ufeff\u200b\u2060"

# --- pinyin annotations ------------------------------------------------------
# Candidate: a bracketed run of Latin letters (with tone marks), spaces and
# apostrophes. Whether it really is an annotation is decided in _is_annotation.
_BRACKETED = re.compile(r"[(（]([A-Za-z\u00c0-\u024f\u0300-\u036f' ’]{1,40})[)）]")
# Generic pinyin syllable grammar (initial + final), not a list of this
# corpus's syllables; it lets "(LME)", "(QQ)", "(sh)" or "(xyz)" through.
_SYLLABLE = (r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?(?:iang|iong|uang|ueng|ang|eng|ing|ong|"
             r"ian|iao|uai|uan|van|ai|ei|ao|ou|an|en|in|un|vn|ia|ie|iu|ua|uo|ui|ue|ve|er|[aoeiuv])")
_PINYIN_WORD = re.compile(rf"(?:{_SYLLABLE})+")
_ONE_SYLLABLE = re.compile(_SYLLABLE)
# Pinyin tone marks as combining characters: grave, acute, macron, diaeresis, caron.
_TONE_MARKS = {0x300, 0x301, 0x304, 0x308, 0x30C}
# Toneless runs are removed only in articles that show this many toned ones.
_PATTERN_MIN = 3

# --- page furniture (all patterns are tried on a trimmed, cleaned line) -----
_UI_WORDS = set(  # a line holding only one of these is a button or a tab
    "资讯 資訊 来源 來源 发布 發布 取消 提示 确定 確定 询盘 詢盤 联系方式 聯繫方式 "
    "加载中 加載中 分享 分享到 收藏 点赞 點讚 打印 关闭 關閉 返回 返回顶部 返回頂部 "
    "上一篇 下一篇 相关阅读 相關閱讀 相关文章 相關文章 推荐阅读 推薦閱讀 暂无评论 暫無評論 "
    "我要评论 我要評論 发表评论 發表評論 登录 登錄 注册 註冊 更多 举报 舉報".split()
)
_SHARE_TERMS = set(
    "保存海报 保存海報 微信 微信好友 朋友圈 QQ QQ好友 QQ空间 QQ空間 微博 新浪微博 "
    "复制链接 複製鏈接 分享到 扫一扫 掃一掃 二维码 二維碼".split()
)
_DATE = r"(?<!\d)\d{4}\s*(?:年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|[-/.]\d{1,2}[-/.]\d{1,2})"
_JUNK = [re.compile(p, re.I) for p in (
    r"^[\w\-.()（） ]{0,60}\.(?:jpe?g|png|gif|webp|bmp|svg|tiff?)$",  # image file name
    r"^(?:全部|最新|热门|熱門)?(?:评论|評論|留言)\s*[(（]?\s*\d*\s*[)）]?$",
    r"^.{0,20}(?:登录|登錄).{0,20}(?:评论|評論).{0,10}$",
    r"^.{0,20}(?:首页|首頁)$",  # navigation link
    # Contact box: "电话 暂无! 手机 暂无!" and the like.
    r"^(?:(?:电话|電話|手机|手機|联系人|聯繫人|地址|邮箱|郵箱|传真|傳真|QQ|微信)"
    r"\s*[:：]?\s*(?:暂无|暫無)\s*[!！]?\s*)+$",
)]
_META = [re.compile(p, re.I) for p in (
    # Byline fields: editor, author, photographer, a bare source line.
    r"^(?:责任编辑|責任編輯|编辑|編輯|审核|審核|校对|校對|作者|记者|記者|通讯员|通訊員|"
    r"摄影|攝影|来源|來源|来自|來自|出处|出處|(?:发布|發布|发表|發表|更新)?(?:时间|時間|日期))"
    r"\s*[:：].{0,30}$",
    r"^\d+\s*[次人]?\s*(?:浏览|瀏覽|阅读|閱讀|点击|點擊|views?|reads?)$",
    r"^(?:浏览|瀏覽|阅读|閱讀|点击|點擊)(?:量|数|數|次数|次數)?\s*[:：]?\s*\d+\s*次?$",
    rf"^{_DATE}\s*(?:\d{{1,2}}:\d{{1,2}}(?::\d{{1,2}})?)?$",  # a date/time alone
    rf"^{_DATE}\s*《[^》]{{1,20}}》\s*(?:报道|報道|讯|訊|电|電)?$",  # dateline
)]
# A metadata field: a label with ":" or a count ("点击数:1920", "评论(0)",
# "5355次瀏覽"); a bare label word inside a headline does not count.
_FIELD = re.compile(
    r"(?:来源|來源|来自|來自|作者|编辑|編輯|日期|时间|時間|发布|發布|發佈|分类|分類|栏目|欄目|"
    r"点击|點擊|浏览|瀏覽|阅读|閱讀|评论|評論|字号|字號)(?:数|數|量)?\s*(?:[:：]|[(（]?\s*\d)"
    r"|\d\s*次?\s*(?:浏览|瀏覽|阅读|閱讀|点击|點擊)"
)
_PROSE_MARK = re.compile(r"[。！？!?；;，,]")
# Copyright / reprint / disclaimer notices: strong cues alone are rare in prose,
# weak ones are common; a notice needs one strong cue plus one more of any kind.
_NOTICE_STRONG = re.compile(
    r"版权|版權|转载|轉載|免责|免責|侵权|侵權|概不负|概不負|自负|自負|凡注明|凡本网|凡本網|"
    r"了解更多信息|不构成投资建议|不構成投資建議|仅供读者参考|僅供讀者參考"
)
_NOTICE_WEAK = re.compile(r"声明|聲明|授权|授權|原创|原創|本网|本網|本站|本文|www\.|https?://|登录|登錄")


def _is_annotation(body: str, prev: str, toned_total: int) -> bool:
    """Tell whether `body`, bracketed right after `prev`, is a pinyin reading to remove."""
    if not prev or prev.isspace() or prev in "(（[【":
        return False  # a gloss set apart by a space is deliberate, keep it
    letters = unicodedata.normalize("NFD", re.sub(r"[ '’]", "", body))
    base = "".join(c for c in letters if not unicodedata.combining(c)).replace("ü", "v")
    if not base or base != base.lower() or not _PINYIN_WORD.fullmatch(base):
        return False  # upper case means an acronym or a name, e.g. (LME), (QQ)
    marks = {ord(c) for c in letters if unicodedata.combining(c)}
    if not marks <= _TONE_MARKS:
        return False  # cedillas, rings...: a foreign word, not pinyin
    if marks:
        # A tone mark never occurs in English or in codes, so this is pinyin
        # even after a non-CJK character (the mojibake "崿F(xiàn)" in 000).
        return True
    # Toneless runs ("(de)", "(men)") could be English; trust them only after a
    # CJK character, as one syllable, in an article that shows the pattern.
    return (
        is_cjk(prev) and len(base) >= 2 and toned_total >= _PATTERN_MIN
        and _ONE_SYLLABLE.fullmatch(base) is not None
    )


def _strip_pinyin(text: str) -> list[bool]:
    """Mark which characters survive pinyin-annotation removal."""
    keep = [True] * len(text)
    matches = list(_BRACKETED.finditer(text))
    toned_total = sum(unicodedata.normalize("NFD", m.group(1)) != m.group(1) for m in matches)
    for m in matches:
        prev = text[m.start() - 1] if m.start() else ""
        if _is_annotation(m.group(1), prev, toned_total):
            keep[m.start():m.end()] = [False] * (m.end() - m.start())
    return keep


def _is_notice(line: str) -> bool:
    """Tell whether a line is a copyright, reprint or disclaimer notice."""
    if len(line) > 400:
        return False  # notices are short; a long paragraph is article prose
    strong = {m.group(0) for m in _NOTICE_STRONG.finditer(line)}
    weak = {m.group(0) for m in _NOTICE_WEAK.finditer(line)}
    return bool(strong) and len(strong) + len(weak) >= 2


def line_kind(line: str) -> str:
    """Classify one trimmed line.

    Args:
        line: a line with pinyin removed and whitespace tidied.

    Returns:
        "" for article text, "meta" for metadata lines (date, source, views,
        bylines, datelines) and "junk" for other page furniture.
    """
    if not any(c.isalnum() for c in line):
        return "junk"  # empty, or separators such as "|" and "-----"
    if len(line) <= 150 and not _PROSE_MARK.search(line):
        # Metadata lines are bare fields; prose always has clause punctuation.
        fields = len(_FIELD.findall(line))
        if fields >= 2 or (fields and re.match(_DATE, line)):
            return "meta"
    if any(p.match(line) for p in _META):
        return "meta"
    tokens = line.split()
    if (
        any(p.match(line) for p in _JUNK)
        or line.rstrip(".。…!！:： ") in _UI_WORDS
        or (len(tokens) >= 2 and all(t in _SHARE_TERMS for t in tokens))
        or _is_notice(line)
    ):
        return "junk"
    return ""


def _tidy(chars: list[str], idx: list[int]) -> tuple[str, list[int]]:
    """Trim a line and collapse its inner whitespace runs to one character.

    The kept character is an ASCII space of the run when it has one, else the
    run's first character, so `raw[origin[i]] == text[i]` keeps holding.
    """
    out: list[str] = []
    out_idx: list[int] = []
    run: list[tuple[str, int]] = []
    for ch, i in zip(chars, idx):
        if ch.isspace():
            run.append((ch, i))
            continue
        if run and out:  # leading and trailing runs are dropped
            ch0, i0 = next((r for r in run if r[0] == " "), run[0])
            out.append(ch0)
            out_idx.append(i0)
        run = []
        out.append(ch)
        out_idx.append(i)
    return "".join(out), out_idx


def _lines(raw: str) -> list[tuple[str, list[int], int]]:
    """Split raw text into tidy lines, pinyin and invisible characters removed.

    Returns:
        For each line: its text, the raw index of each character, and the raw
        index of the break that ends it (-1 for the last line).
    """
    keep = _strip_pinyin(raw)
    lines = []
    chars: list[str] = []
    idx: list[int] = []
    for i, ch in enumerate(raw):
        if not keep[i] or ch in _INVISIBLE:
            continue
        if ch == "\n" or ch in _BREAKS:
            if ch == "\r" and raw[i + 1:i + 2] == "\n":
                continue  # the "\n" of "\r\n" carries the break
            lines.append((*_tidy(chars, idx), i))
            chars, idx = [], []
        else:
            chars.append(ch)
            idx.append(i)
    lines.append((*_tidy(chars, idx), -1))
    return lines


def clean_text(raw: str) -> CleanText:
    """Clean a raw article and keep, for each kept character, its raw index.

    Steps: line breaks normalised; pinyin annotations removed; lines trimmed
    and inner whitespace runs collapsed; empty, furniture and metadata lines
    dropped; a paragraph repeating an earlier one exactly is dropped (000 holds
    its body twice); paragraphs joined by "\\n", each "\\n" mapped to the raw
    break that ended the previous kept line. Every other character maps to
    itself, raw[origin[i]] == text[i]; a "\\n" maps to a raw "\\n" unless the
    file breaks lines another way, with a lone "\\r" (old Mac files) or with
    "\\v", "\\f", "\\x85", "\\u2028" or "\\u2029", which is then raw[origin[i]].
    Origins strictly increase (tests/embeddings/text/test_properties.py).

    Args:
        raw: the decoded file content.

    Returns:
        The cleaned text and its origin map.
    """
    out: list[str] = []
    origin: list[int] = []
    seen: set[str] = set()
    brk = -1
    for text, idx, line_brk in _lines(raw):
        if text in seen or line_kind(text):
            continue
        seen.add(text)
        if out:
            out.append("\n")
            origin.append(brk)
        out.append(text)
        origin.extend(idx)
        brk = line_brk
    return CleanText(text="".join(out), origin=tuple(origin))


# Source values that name no publisher ("来自:网络" = "from the internet").
_NO_PUBLISHER = {"网络", "網絡", "互联网", "互聯網", "网友", "網友", "本站", "本网", "本網",
                 "未知", "佚名", "其他", "转载", "轉載", "原创", "原創"}
_SOURCE = re.compile(r"(?:来源|來源|来自|來自|出处|出處)\s*[:：]\s*(.+)")
_NEXT_FIELD = re.compile(
    r"\s*(?:来源|來源|作者|编辑|編輯|责任编辑|日期|时间|時間|发布|發布|分类|分類|点击|點擊|"
    r"浏览|瀏覽|阅读|閱讀|评论|評論|字号|字號|标签|標籤)|\s{2,}|\s*\||\s+(?=\d)"
)
_WIRE = re.compile(r"^([^\s:：,，。]{2,20}?(?:网|網|报|報|社))(?:网|網)?(?:讯|訊)\s*[:：]")
_PAPER = re.compile(r"《([^》]{2,20})》\s*(?:报道|報道|讯|訊|电|電)")
_FULL_DATE = re.compile(r"(?<!\d)(\d{4})(?:\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日|[-/.](\d{1,2})[-/.](\d{1,2}))")
_MONTH = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月")
_TITLE_MAX = 40


def _iso_date(lines: list[str]) -> str:
    """Find the first valid date in metadata lines, as YYYY-MM-DD (else YYYY-MM)."""
    full = [m.groups() for line in lines for m in _FULL_DATE.finditer(line)]
    for y, mo, d, mo2, d2 in full:
        if 1 <= int(mo or mo2) <= 12 and 1 <= int(d or d2) <= 31:
            return f"{y}-{int(mo or mo2):02d}-{int(d or d2):02d}"
    months = [m.groups() for line in lines for m in _MONTH.finditer(line)]
    return next((f"{y}-{int(mo):02d}" for y, mo in months if 1 <= int(mo) <= 12), "")


def _source(lines: list[str], first_line: str) -> str:
    """Find the publisher: a source field, else a "XX网讯:" lead, else a dateline paper."""
    for line in lines:
        m = _SOURCE.search(line)
        if m:
            value = _NEXT_FIELD.split(m.group(1), maxsplit=1)[0].strip(" :：")
            if value and value not in _NO_PUBLISHER and not re.search(r"[“”\"《]|XXX", value):
                return value
    wire = _WIRE.match(first_line)
    if wire and not wire.group(1).startswith("本"):  # "本报讯" names no one
        return wire.group(1)
    papers = [m.group(1) for line in lines for m in _PAPER.finditer(line)]
    return papers[0] if papers else ""


def _title(cleaned: str) -> str:
    """Take a headline line, else the first sentence, cut to about 40 characters."""
    first = cleaned.split("\n", 1)[0]
    headline = 4 <= len(first) <= 60 and not re.search(r"[。！？!?；;…]", first)
    if not headline and first:
        start, end = split_sentences(first)[0]
        first = first[start:end]
        m = _WIRE.match(first)
        if m:
            first = first[m.end():].lstrip()  # "中華壓鑄網網訊:" is a dateline, not a title
    if len(first) > _TITLE_MAX:
        first = first[:_TITLE_MAX].rstrip(" ,，、;；:：") + "…"
    return first


def extract_metadata(raw: str, cleaned: str) -> tuple[str, str, str]:
    """Read title, source and date from the article text.

    Date and source come only from metadata lines (the ones clean_text drops),
    so a year in the prose is never taken for the publication date; the
    "XX网讯:" lead of the first line and a "《报纸》报道" dateline are fallbacks
    for the source. Generic values such as "网络" are not publishers and are
    ignored.

    Args:
        raw: the decoded file content.
        cleaned: the text clean_text returned for it.

    Returns:
        (title, source, date); date is "YYYY-MM-DD" or "YYYY-MM"; "" when absent.
    """
    meta = [text for text, _, _ in _lines(raw) if line_kind(text) == "meta"]
    first_line = cleaned.split("\n", 1)[0]
    return _title(cleaned), _source(meta, first_line), _iso_date(meta)


def clean_article(raw: str, doc: str) -> Article:
    """Clean one article and read its metadata.

    Args:
        raw: the decoded file content.
        doc: the file name, used as the citation key.

    Returns:
        The Article; content_hash is the sha256 of `raw` encoded as UTF-8.
    """
    cleaned = clean_text(raw)
    title, source, date = extract_metadata(raw, cleaned.text)
    return Article(
        doc=doc, title=title, source=source, date=date, text=cleaned.text,
        content_hash=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
    )
