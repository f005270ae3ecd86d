"""The named Chinese segmenter used for BM25, on the normalised matching form."""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from embeddings.background import BackgroundTask
from embeddings.text.normalize import normalize

# Recorded in the manifest; the retriever rebuilds exactly this tokenizer from
# it, so query and index tokens cannot drift apart.
TOKENIZER_NAME = "jieba-search/v1"

_KEEP = re.compile(r"[\w%]", re.UNICODE)

# Function words carry no evidence for BM25 and only dilute it. Question words
# (多少, 什么 ...) are listed too: they never occur in the answering sentence.
STOPWORDS = frozenset(
    """的 了 和 与 及 是 在 为 对 等 也 都 而 并 将 把 被 由 于 以 之 其 这 那 个 着 或 从 向 到 就 又
    吗 呢 吧 啊 呀 么 什么 多少 哪 哪里 哪些 哪个 哪位 哪一 几 谁 怎样 怎么 如何 为何 何时 是否 请问 一共
    有 要 会 该 此 各 其中 上 中 下 里 年 月 日
    a an the of in on at to for by with from is are was were be been what which who whom when where how
    much many did does do and or as that this it its""".split()
)


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    # jieba logs its dictionary loading at INFO on every process start.
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def load_in_background() -> BackgroundTask:
    """Start loading jieba's dictionary and OpenCC's tables in a thread; join it before the first question.

    Both take a few tenths of a second at every process start; a question
    process overlaps them with loading the index and the models.
    """
    def load():
        _jieba()
        normalize("鋁")

    return BackgroundTask(load, name="aluqa-dictionaries-load")


def tokenize_normalized(normalized_text: str) -> list[str]:
    """Tokens of text already in matching form (see `embeddings.text.normalize`).

    Search mode emits both whole words and their parts (产业集群 -> 产业, 集群,
    产业集群), so a question phrased with a shorter or longer compound still
    shares tokens with the sentence.
    """
    tokens = []
    for token in _jieba().cut_for_search(normalized_text):
        token = token.strip()
        if token and _KEEP.search(token) and token not in STOPWORDS:
            tokens.append(token)
    return tokens


def tokenize(text: str) -> list[str]:
    """Normalise then tokenise raw text."""
    return tokenize_normalized(normalize(text))
