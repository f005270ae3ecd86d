"""The exact answer inside a sentence: token offsets, gold labels, the best span, and offsets back in the article."""

import numpy as np

from embeddings.text.normalize import normalize
from qa.span import SPACE_MARK, best_span, label_span, original_span, token_offsets


def test_token_offsets_follow_the_pieces_through_spaces_and_unknown_characters():
    text = "2022年 产值1045亿元"
    pieces = [SPACE_MARK + "2022", "年", SPACE_MARK, "产值", "1045", "亿元"]
    assert token_offsets(text, pieces) == [(0, 4), (4, 5), (6, 6), (6, 8), (8, 12), (12, 14)]
    # A piece that is not in the text (<unk>) covers one character, and the next ones still align.
    assert token_offsets("a☃b", ["a", "<unk>", "b"]) == [(0, 1), (1, 2), (2, 3)]


def test_label_span_covers_the_answer_characters():
    offsets = [(0, 4), (4, 5), (5, 7), (7, 11), (11, 13)]
    assert label_span(offsets, 7, 13) == (3, 4)
    assert label_span(offsets, 8, 10) == (3, 3)  # inside one token: that token
    assert label_span(offsets, 20, 22) is None


def test_best_span_keeps_start_before_end_and_bounds_its_length():
    start = np.array([0.0, 5.0, 0.0, 0.0])
    end = np.array([4.5, 0.0, 0.0, 4.0])  # the best end alone comes before the best start
    span = best_span(start, end)
    assert (span.first, span.last) == (1, 3)
    assert 0.0 < span.probability < 1.0
    assert best_span(np.array([0.0, 9.0, 0.0]), np.array([0.0, 0.0, 9.0]), max_tokens=1).last == 1
    assert best_span(np.zeros(0), np.zeros(0)) is None


def test_original_span_maps_matching_form_offsets_back_to_the_printed_sentence():
    sentence = "２０２２年，全市鋁產業總產值１０４５億元。"
    match = normalize(sentence)
    start = match.index("1045")
    assert original_span(sentence, match, start, start + len("1045亿元")) == (14, 20)
    assert sentence[14:20] == "１０４５億元"
    assert original_span(sentence, match, 5, 5) is None
