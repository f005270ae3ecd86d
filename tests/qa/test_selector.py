"""The learned answer selector: its input layout, its decision rule, its calibration, and the shipped model."""

import math

import numpy as np
import pytest

from qa.selector import BOS, EOS, PAD, SELECTOR_CARD, SELECTOR_WEIGHTS, SelectorConfig, choose, pad_batch, pair_ids
from qa.selector_export import trainable_name

CONFIG = SelectorConfig(base_model="test", max_length=20, max_question_tokens=4, max_title_tokens=2)


def test_pair_layout_keeps_question_title_and_cuts_the_sentence_tail():
    ids = pair_ids([11, 12, 13, 14, 15, 16], list(range(100, 130)), [7, 8, 9], CONFIG)
    assert len(ids) == CONFIG.max_length
    assert ids[:9] == [BOS, 11, 12, 13, 14, EOS, EOS, 7, 8]
    assert ids[9] == EOS and ids[10] == 100 and ids[-1] == EOS


def test_pair_layout_without_title():
    config = SelectorConfig(base_model="test", use_title=False)
    assert pair_ids([5], [6, 7], [8], config) == [BOS, 5, EOS, EOS, 6, 7, EOS]


def test_pair_layout_reads_the_end_of_the_previous_sentence_when_trained_with_context():
    config = SelectorConfig(base_model="test", max_length=20, max_question_tokens=4, max_title_tokens=2,
                            max_context_tokens=3)
    ids = pair_ids([5], [6, 7], [8], config, [40, 41, 42, 43, 44])
    assert ids == [BOS, 5, EOS, EOS, 8, EOS, 42, 43, 44, EOS, 6, 7, EOS]
    # A model trained without context ignores it; no previous sentence adds nothing.
    assert pair_ids([5], [6, 7], [8], CONFIG, [40, 41]) == [BOS, 5, EOS, EOS, 8, EOS, 6, 7, EOS]
    assert pair_ids([5], [6, 7], [8], config, []) == [BOS, 5, EOS, EOS, 8, EOS, 6, 7, EOS]


def test_the_sentence_keeps_its_room_before_the_context():
    config = SelectorConfig(base_model="test", max_length=13, max_question_tokens=4, max_title_tokens=2,
                            max_context_tokens=8)
    ids = pair_ids([5], [6, 7, 8, 9], [3], config, [40, 41, 42, 43, 44])
    assert len(ids) == 13 and ids[-5:] == [6, 7, 8, 9, EOS]
    assert ids[:6] == [BOS, 5, EOS, EOS, 3, EOS] and ids[6] == 44 and ids[7] == EOS


def test_pad_batch_masks_the_padding_and_makes_the_length_even():
    ids, mask = pad_batch([[1, 2, 3], [4]])
    assert ids.tolist() == [[1, 2, 3, PAD], [4, PAD, PAD, PAD]]
    assert mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    ids, mask = pad_batch([[1, 2], [4]])
    assert ids.tolist() == [[1, 2], [4, PAD]] and mask.tolist() == [[1, 1], [1, 0]]


def test_only_upper_layers_are_trained():
    assert trainable_name("encoder.layer.6.attention.self.query.weight", 6)
    assert not trainable_name("encoder.layer.5.output.dense.bias", 6)
    assert not trainable_name("embeddings.word_embeddings.weight", 6)


def test_choose_prefers_the_eligible_candidate_with_the_best_combined_score():
    logits = np.array([3.0, 2.0, 2.5])
    confidences = np.array([0.9, 0.05, 0.05])
    # The best logit is not eligible (another year or place): never returned.
    pick = choose(logits, confidences, [False, True, True], ranker_weight=0.0, refuse_below=0.0)
    assert pick.position == 2 and pick.found
    # With the ranker's confidence weighed in, a lower logit can win.
    pick = choose(np.array([2.0, 2.2]), np.array([0.9, 0.01]), [True, True], ranker_weight=1.0, refuse_below=0.0)
    assert pick.position == 0


def test_choose_refuses_below_the_threshold_and_when_nothing_is_eligible():
    assert not choose(np.array([-1.0, -2.0]), np.array([0.5, 0.5]), [True, True], 0.5, refuse_below=0.0).found
    none = choose(np.array([5.0]), np.array([1.0]), [False], 0.5, refuse_below=0.0)
    assert none.position is None and not none.found and none.logit == -math.inf


def test_choose_in_turn_reads_only_eligible_candidates_and_decides_as_choose():
    from qa.selector import choose_in_turn

    rng = np.random.default_rng(1)
    for _ in range(200):
        logits = rng.normal(0.0, 2.0, size=4)
        confidences = rng.dirichlet(np.ones(4))
        eligible = list(rng.random(4) < 0.7)
        asked = []

        def logits_of(positions):
            asked.append(list(positions))
            return logits[positions]

        # Without an early stop: every eligible candidate, in one pass.
        pick = choose_in_turn(logits_of, confidences, eligible, 0.5, 0.0, None)
        expected = choose(logits, confidences, eligible, 0.5, 0.0)
        assert (pick.position, pick.found, pick.logit) == (expected.position, expected.found, expected.logit)
        wanted = [i for i, ok in enumerate(eligible) if ok]
        assert asked == ([wanted] if wanted else [])
        # With one that is never reached: the first eligible candidate alone, then the others; the same pick.
        asked.clear()
        pick = choose_in_turn(logits_of, confidences, eligible, 0.5, 0.0, 100.0)
        assert (pick.position, pick.found, pick.logit) == (expected.position, expected.found, expected.logit)
        assert asked == [part for part in (wanted[:1], wanted[1:]) if part]


def test_choose_in_turn_stops_after_a_sure_first_candidate():
    from qa.selector import choose_in_turn

    asked = []

    def logits_of(positions):
        asked.append(list(positions))
        return np.array([3.0, 4.0, 5.0])[positions]

    # The first eligible candidate (position 1) reaches stop_above: the others are never read.
    pick = choose_in_turn(logits_of, np.array([0.2, 0.5, 0.3]), [False, True, True], 0.0, 0.0, 3.5)
    assert asked == [[1]] and pick.position == 1 and pick.found
    assert pick.combined[2] == -math.inf  # not read: ranked last among the candidates shown
    # Below stop_above the rest is read, and the best of all wins.
    asked.clear()
    pick = choose_in_turn(logits_of, np.array([0.2, 0.5, 0.3]), [False, True, True], 0.0, 0.0, 4.5)
    assert asked == [[1], [2]] and pick.position == 2
    # Never stops on a first candidate that would be refused.
    asked.clear()
    pick = choose_in_turn(logits_of, np.array([0.2, 0.5, 0.3]), [False, True, True], 0.0, 4.5, 1.0)
    assert asked == [[1], [2]] and pick.position == 2 and pick.found


def test_the_early_stop_is_the_lowest_point_that_changes_no_decision():
    from qa.training.train_selector import STOP_STEP, Candidate, Group, decide, stop_point

    # The first candidate is sure at 2.0; the second, at 2.6, beats it in four questions out of ten.
    groups, logits = [], []
    for i in range(10):
        candidates = tuple(Candidate(f"s{j}", "", j == (1 if i < 4 else 0), 0.5, True) for j in range(2))
        groups.append(Group("set", f"a{i}", f"q{i}", True, candidates))
        logits.append(np.array([2.0 + 0.1 * i, 2.6 if i < 4 else 1.0]))
    stop = stop_point(groups, logits, 2, 0.0, 0.0, None)
    # 2.0 + 0.1 * 3 = 2.3 still loses to 2.6: the point must be above 2.3, on the grid.
    assert stop == 2.5 and stop % STOP_STEP == 0
    assert decide(groups, logits, 2, 0.0, 0.0, None, stop) == decide(groups, logits, 2, 0.0, 0.0, None, None)
    assert decide(groups, logits, 2, 0.0, 0.0, None, stop - STOP_STEP) != decide(groups, logits, 2, 0.0, 0.0)
    # When every first candidate would have to be read past, there is no early stop.
    assert stop_point(groups[:4], [np.array([2.0, 9.0])] * 4, 2, 0.0, 0.0, None) is None


def test_calibration_refuses_at_most_the_allowed_share_of_answerable_questions():
    from qa.training.train_selector import Candidate, Group, calibrate, decide

    rng = np.random.default_rng(0)
    groups, logits = [], []
    for i in range(200):
        answerable = i % 2 == 0
        candidates = tuple(Candidate(f"s{j}", "", answerable and j == 0, 0.2, True) for j in range(4))
        groups.append(Group("set", f"a{i}", f"q{i}", answerable, candidates))
        logits.append(np.array([rng.normal(2.0 if answerable else -1.0), -3.0, -3.0, -3.0]))
    chosen = calibrate(groups, logits, max_answerable_refused=0.05)
    results = decide(groups, logits, chosen["candidates"], chosen["ranker_weight"], chosen["refuse_below"])
    answerable_refused = np.mean([not found for g, (found, _) in zip(groups, results) if g.answerable])
    unanswerable_refused = np.mean([not found for g, (found, _) in zip(groups, results) if not g.answerable])
    assert answerable_refused <= 0.05
    assert unanswerable_refused > 0.8  # well-separated logits: most unanswerable questions refused


def test_group_loss_targets_no_answer_for_unanswerable_questions():
    torch = pytest.importorskip("torch")
    from qa.training.train_selector import Example, group_loss

    right = Example(((1,), (2,)), (True, False), True)
    impossible = Example(((1,), (2,)), (False, False), False)
    high = torch.tensor([4.0, -4.0])
    low = torch.tensor([-4.0, -4.0])
    assert float(group_loss(torch, high, [right])) < 0.1
    assert float(group_loss(torch, low, [impossible])) < 0.1
    assert float(group_loss(torch, high, [impossible])) > 3.0


def test_unanswerable_weight_scales_only_the_unanswerable_terms():
    torch = pytest.importorskip("torch")
    from qa.training.train_selector import Example, group_loss

    right = Example(((1,), (2,)), (True, False), True)
    impossible = Example(((1,), (2,)), (False, False), False)
    logits = torch.tensor([1.0, -1.0, 1.0, -1.0])
    answerable = float(group_loss(torch, logits[:2], [right]))
    unanswerable = float(group_loss(torch, logits[2:], [impossible]))
    weighted = float(group_loss(torch, logits, [right, impossible], unanswerable_weight=3.0))
    assert weighted == pytest.approx((answerable + 3.0 * unanswerable) / 2)


def test_the_shipped_card_describes_the_shipped_weights():
    import hashlib

    config = SelectorConfig.read(SELECTOR_CARD)
    assert config.version == hashlib.sha256(SELECTOR_WEIGHTS.read_bytes()).hexdigest()[:12]
    assert SELECTOR_WEIGHTS.stat().st_size < 40 * 1024 * 1024
    assert 1 <= config.candidates <= 8 and config.figures["validation"]


@pytest.mark.slow
def test_the_real_pipeline_answers_with_the_selector(real_qa):
    reply = real_qa.ask("魏桥创业集团三年关停热电厂，停运了多少台机组？")
    assert reply.found and "42" in reply.sentence
    assert reply.selector.startswith("cross-encoder")
    assert reply.to_dict()["selector"] == reply.selector


@pytest.mark.slow
@pytest.mark.parametrize("question", ["<script>alert(1)</script>", "火星上有多少座铝厂？",
                                      "What is the population of Paris?",
                                      "How many aircraft carriers does Binzhou have?"])
def test_questions_the_corpus_cannot_answer_are_refused(real_qa, question):
    assert not real_qa.ask(question).found


def _char_tokenizer():
    vocabulary = {}

    def tokenize(texts):
        return [tuple(vocabulary.setdefault(ch, 10 + len(vocabulary)) for ch in text) for text in texts]

    def pieces(ids):
        back = {v: k for k, v in vocabulary.items()}
        return [back[i] for i in ids]

    return tokenize, pieces


def test_training_examples_mark_the_gold_span_inside_the_pair():
    import random

    from qa.training.train_selector import Candidate, Group, to_examples

    tokenize, pieces = _char_tokenizer()
    right = Candidate("产值1045亿元", "百色", True, 0.5, True, answer="1045亿元")
    wrong = Candidate("人口多", "百色", False, 0.5, True)
    group = Group("set", "a1", "产值多少", True, (right, wrong))
    config = SelectorConfig(base_model="test", span_head=True)
    (example,) = to_examples([group], tokenize, pieces, config, 3, random.Random(0))
    position = example.right.index(True)
    first, last = example.spans[position]
    pair = example.pairs[position]
    assert "".join(pieces(pair[first: last + 1])) == "1045亿元"
    assert example.spans[1 - position] is None
    begin, end = example.windows[position]
    assert "".join(pieces(pair[begin:end])) == "产值1045亿元"


def test_a_cut_off_span_is_not_a_label():
    import random

    from qa.training.train_selector import Candidate, Group, to_examples

    tokenize, pieces = _char_tokenizer()
    config = SelectorConfig(base_model="test", max_length=12, max_question_tokens=2, span_head=True)
    right = Candidate("很长的一句话后面才有1045亿元", "", True, 0.5, True, answer="1045亿元")
    (example,) = to_examples([Group("set", "a", "产值", True, (right,))], tokenize, pieces, config, 3,
                             random.Random(0))
    assert example.spans == (None,)


def test_span_loss_is_low_when_the_head_points_at_the_gold_tokens():
    torch = pytest.importorskip("torch")
    from qa.training.train_selector import Example, span_loss

    example = Example(((1, 2, 3, 4, 5),), (True,), True, ((2, 3),), ((1, 4),))
    good_start = torch.tensor([[0.0, 0.0, 9.0, 0.0, 0.0]])
    good_end = torch.tensor([[0.0, 0.0, 0.0, 9.0, 0.0]])
    # Positions outside the sentence window never count, however high their logits.
    outside = torch.tensor([[99.0, 0.0, 9.0, 0.0, 99.0]])
    assert float(span_loss(torch, good_start, good_end, [example])) < 0.01
    assert float(span_loss(torch, outside, good_end, [example])) < 0.01
    assert float(span_loss(torch, good_end, good_start, [example])) > 4.0


def test_retrieval_misses_are_answerable_questions_without_their_right_candidates():
    from qa.training.train_selector import RETRIEVAL_MISS, Candidate, Group, retrieval_misses

    groups = [Group("set", f"a{i}", f"q{i}", True, (Candidate("r", "", True, 0.5, True),
                                                   Candidate("w", "", False, 0.5, True))) for i in range(50)]
    misses = retrieval_misses(groups, 0.5, 3)
    assert 5 < len(misses) < 45
    assert all(not m.answerable and m.kind == RETRIEVAL_MISS and not any(c.right for c in m.candidates)
               for m in misses)


def test_xquad_chinese_and_english_questions_of_one_article_share_its_split():
    from qa.training.train_selector import Group

    for article in ("Normans", "Super_Bowl_50", "Amazon_rainforest", "Victoria_and_Albert_Museum"):
        assert (Group("xquad_zh_a", article, "", True, ()).validation
                == Group("xquad_en_zh_a", article, "", True, ()).validation)


@pytest.fixture(scope="module")
def seed_questions():
    from conftest import load_seed_qa

    return [item["question"] for item in load_seed_qa()]


@pytest.mark.slow
def test_the_int8_selector_decides_as_the_fp32_one_on_the_seed_questions(real_qa, seed_questions):
    """Found / not found and the chosen sentence, on the 40 seed questions: int8 must not change them.

    (Quantising the feed-forward output layers too changed 2 of the 40 sentences.)
    """
    from qa.selector import AnswerSelector

    answerer = real_qa._ready.answerer
    shipped = answerer.selector
    decisions = {}
    try:
        for int8 in (False, True):
            answerer.selector = AnswerSelector(int8=int8, cache_dir=shipped.cache_dir)
            decisions[int8] = [(a.found, a.sentence, a.citation and (a.citation.doc, a.citation.start))
                               for a in map(real_qa.ask, seed_questions)]
    finally:
        answerer.selector = shipped
    differ = [(q, a, b) for q, a, b in zip(seed_questions, decisions[False], decisions[True]) if a != b]
    assert not differ
    assert sum(found for found, _, _ in decisions[True]) >= 30


@pytest.mark.slow
def test_the_shipped_int8_selector_reads_each_candidate_apart_from_the_others(real_qa):
    import os

    import onnx

    from embeddings.model.onnx_runtime import int8_path, table_path
    from qa.selector import selector_onnx_path

    if os.environ.get("ALUQA_INT8"):
        pytest.skip("ALUQA_INT8 chooses the precision here, not the default")
    from qa.selector import AnswerSelector
    from qa.settings import DEFAULT_INT8

    served = real_qa._ready.answerer.selector
    assert served.int8 == ("selector" in DEFAULT_INT8), "the default answers with the int8 variant where it is faster"
    selector = served if served.int8 else AnswerSelector(int8=True, cache_dir=served.cache_dir)
    assert selector.int8 and selector.name.endswith(" int8")
    fp32 = selector_onnx_path(selector.config, selector.cache_dir)
    ops = [n.op_type for n in onnx.load(str(int8_path(fp32))).graph.node]
    # Per layer query, key, value, attention output and the two feed-forward layers, plus the heads: all int8 blocks.
    assert ops.count("MatMulNBits") >= 12 * 6 and ops.count("MatMulInteger") == 0
    assert table_path(int8_path(fp32)).samefile(table_path(fp32))
    # Odd and even lengths, long and short: each candidate's logit is the same alone as with the others.
    sentences = ["2022年，全市铝产业总产值1045亿元，占广西铝产业的80%以上。", "铝", "广元市铝产业集群发展迅速。",
                 "滨州市电解铝产能646万吨，约占全国的14.9%，氧化铝产能2000万吨以上。"]
    question = "2022年百色市铝产业总产值是多少？"
    together = selector.score(question, sentences, ["百色铝产业"] * len(sentences))
    for i, sentence in enumerate(sentences):
        alone = selector.score(question, [sentence], ["百色铝产业"])
        assert abs(float(alone[0]) - float(together[i])) < 1e-4, sentence


def test_an_older_export_of_the_same_version_gives_its_fp32_graph_and_drops_its_int8_variant(tmp_path):
    from embeddings.model.onnx_runtime import int8_path, table_path
    from qa.selector import SelectorConfig, export_prefix, selector_onnx_path
    from qa.selector_export import _adopt_older_export

    config = SelectorConfig(base_model="e5", version="abc123")
    target = selector_onnx_path(config, tmp_path)
    target.parent.mkdir(parents=True)
    old = target.with_name(f"{export_prefix('abc123')}.onnx")  # the name before export revisions
    other = target.with_name("selector-fff999-f2.onnx")  # another version: left alone
    for path in (old, table_path(old), int8_path(old), table_path(int8_path(old)), other):
        path.write_text(path.name)
    _adopt_older_export(target, config.version)
    assert target.read_text() == old.name and table_path(target).read_text() == table_path(old).name
    assert not any(p.exists() for p in (old, table_path(old), int8_path(old), table_path(int8_path(old))))
    assert other.exists() and not int8_path(target).exists(), "the int8 variant is made again, not adopted"


def test_near_misses_whose_replaced_value_no_read_candidate_holds_are_left_out():
    from qa.training.train_selector import ANSWERABLE, Candidate, Group, visible_near_misses

    def candidate(sentence, title="滨州铝业", right=False):
        return Candidate(sentence, title, right, 0.5, True)

    seen = Group("f", "a1", "2021年滨州市铝产业产值是多少?", False,
                 (candidate("2022年滨州市铝产业产值1000亿元。"), candidate("其他。")), "near-miss:year")
    hidden = Group("f", "a1", "百色市铝产业总产值是多少?", False,
                   (candidate("全市铝产业总产值1045亿元。"), candidate("其他。")), "near-miss:place")
    # The replaced value is held only by a candidate beyond the ones it is trained on.
    beyond = Group("f", "a2", "张三是谁?", False,
                   (candidate("其他。"), candidate("另一句。"), candidate("李四是会长。")), "near-miss:person")
    in_title = Group("f", "a3", "广元市有多少家企业?", False,
                     (candidate("全市有30家企业。", title="百色市铝业"),), "near-miss:place")
    original = Group("f", "a1", "2022年滨州市铝产业产值是多少?", True,
                     (candidate("2022年滨州市铝产业产值1000亿元。", right=True),), ANSWERABLE)
    unknown = Group("f", "a4", "未知的问题?", False, (candidate("未知。"),), "near-miss:year")
    replaced = {("f", seen.question): "2022", ("f", hidden.question): "百色市", ("f", beyond.question): "李四",
                ("f", in_title.question): "百色市"}
    kept = visible_near_misses([seen, hidden, beyond, in_title, original, unknown], replaced, negatives=2)
    assert kept == [seen, in_title, original]


def test_a_question_is_read_without_what_the_sentence_leaves_to_its_context():
    from qa.answerer import reading_question
    from qa.question import parse_question

    question = parse_question("2022年百色市铝产业总产值是多少？")
    assert reading_question(question, "氧化铝产量959.33万吨,约占全国的11.38%;", ("years", "places")) == "铝产业总产值是多少?"
    # What the sentence holds stays (the city by its stem, 百色 for 百色市); nothing to leave out reads it whole.
    assert reading_question(question, "2022年,全市铝产业总产值1045亿元;", ("years", "places")) == "2022年铝产业总产值是多少?"
    assert reading_question(question, "2022年百色铝产业总产值1045亿元;", ("years", "places")) == question.match
    assert reading_question(question, "氧化铝产量959.33万吨;", ()) == question.match
    english = parse_question("What was the output value of Baise in 2022?")
    assert reading_question(english, "氧化铝产量959.33万吨;", ("years", "places")) == english.match
    named = parse_question("魏桥创业集团在哪里建设了轻量化基地？")
    assert named.names and reading_question(named, "该集团在滨州建设了轻量化基地。", ("years", "places")) == named.match
    assert "魏桥" not in reading_question(named, "该集团在滨州建设了轻量化基地。", ("years", "places", "names"))


def test_the_selector_reads_each_candidate_beside_its_own_form_of_the_question(real_qa):
    selector = real_qa._ready.answerer.selector
    sentences, titles = ["氧化铝产量959.33万吨,约占全国的11.38%。", "2022年,全市铝产业总产值1045亿元。"], ["百色"] * 2
    whole, short = "2022年百色市氧化铝产量是多少?", "氧化铝产量是多少?"
    apart = [float(selector.score(q, [s], [t])[0]) for q, s, t in zip((short, whole), sentences, titles)]
    together = selector.score([short, whole], sentences, titles)
    assert np.allclose(together, apart, atol=1e-4)
    assert float(selector.score(whole, sentences[:1], titles[:1])[0]) != pytest.approx(apart[0], abs=1e-3)


def test_validation_is_scored_with_the_decisions_reading_of_the_question():
    from dataclasses import replace

    from qa.training.train_selector import Candidate, Group, read_as, read_beside

    group = Group("cmrc2018_trial", "a", "2022年百色市氧化铝产量是多少?", True, (
        Candidate("氧化铝产量959.33万吨。", "百色", True, 0.5, True),
        Candidate("2022年百色市氧化铝产量959.33万吨。", "百色", False, 0.3, True),
        Candidate("氧化铝产量959.33万吨。", "百色", False, 0.2, False)))
    config = replace(CONFIG, checked_left_out=("years", "places"))
    assert [read_beside(group, c, config) for c in group.candidates] == [
        "氧化铝产量是多少?", group.question, group.question]  # an ineligible candidate is never read
    assert all(read_beside(group, c, CONFIG) == read_as(group, CONFIG) for c in group.candidates)


def test_the_training_command_refuses_an_unknown_kind_to_leave_out(capsys):
    from qa.training.train_selector import main

    with pytest.raises(SystemExit) as stopped:
        main(["--checked-left-out", "years,cities", "--calibrate-only"])
    assert stopped.value.code == 2 and "years, places, names" in capsys.readouterr().err


def test_averaging_makes_each_trained_tensor_the_mean_of_the_two_runs(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from qa.training.train_selector import average_into

    module = torch.nn.Linear(2, 1)
    module.bias.requires_grad_(False)  # a frozen tensor stays as it is
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[1.0, 3.0]]))
        module.bias.fill_(5.0)
    other = tmp_path / "other.safetensors"
    save_file({"weight": torch.tensor([[3.0, -1.0]]).half()}, str(other))
    average_into(module, other)
    assert module.weight.tolist() == [[2.0, 1.0]]
    assert module.bias.tolist() == [5.0]

    save_file({"something.else": torch.zeros(1)}, str(other))
    with pytest.raises(SystemExit, match="lacks 1 of the trained tensors"):
        average_into(module, other)
