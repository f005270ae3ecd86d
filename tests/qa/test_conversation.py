"""Tests of follow-up resolution: which slots are carried, swapped or reset."""

from __future__ import annotations

import dataclasses

import pytest

from qa.conversation import ConversationState, resolve_followup

BAISE = "2022年百色市铝产业总产值是多少？"


def _run(*questions: str) -> list[str]:
    """Ask questions in order; returns what was actually asked for each."""
    state, asked = None, []
    for question in questions:
        resolved, state = resolve_followup(question, state)
        asked.append(resolved)
    return asked


def test_first_question_is_asked_as_typed_and_fills_the_slots():
    resolved, state = resolve_followup(BAISE, None)
    assert resolved == BAISE
    assert (state.place, state.organisation, state.year) == ("百色市", "", "2022")
    assert state.topic == "铝产业总产值是多少？" and state.question == BAISE


def test_state_is_a_frozen_dataclass():
    state = ConversationState(question=BAISE, place="百色市")
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.place = "广元市"


def test_follow_up_with_na_carries_place_and_year():
    assert _run(BAISE, "那电解铝占全国多少？")[1] == "2022年百色市电解铝占全国多少？"


def test_place_only_follow_up_swaps_the_place_into_the_previous_question():
    # 广元 alone is not a jieba place; its dictionary form 广元市 is, so that one is asked.
    assert _run(BAISE, "广元呢？")[1] == "2022年广元市铝产业总产值是多少？"
    assert _run(BAISE, "那电解铝占全国多少？", "广元呢？")[2] == "2022年广元市电解铝占全国多少？"


def test_traditional_follow_up_keeps_its_script():
    assert _run("百色市铝产业总产值是多少？", "廣元呢？")[1] == "廣元市铝产业总产值是多少？"


def test_year_only_follow_up_swaps_the_year():
    assert _run(BAISE, "那么2021年呢？")[1] == "2021年百色市铝产业总产值是多少？"
    assert _run("百色市铝产业总产值是多少？", "2021年呢？")[1] == "2021年百色市铝产业总产值是多少？"


def test_topic_only_follow_up_reuses_the_question_ending():
    assert _run(BAISE, "电解铝呢？")[1] == "2022年百色市电解铝是多少？"


def test_short_question_without_a_place_leans_on_the_previous_one():
    assert _run(BAISE, "总产值是多少？")[1] == "2022年百色市总产值是多少？"


def test_organisation_is_carried_and_swapped():
    asked = _run("魏橋創業集團三年關停了幾個熱電廠？", "停運了多少臺機組？", "中国铝业集团呢？")
    assert asked[1] == "魏橋創業集團停運了多少臺機組？"
    assert asked[2] == "中国铝业集团停運了多少臺機組？"


def test_place_after_an_organisation_takes_its_place_as_subject():
    assert _run("魏桥创业集团停运了多少台机组？", "滨州呢？")[1] == "滨州停运了多少台机组？"


def test_complete_question_resets_the_conversation():
    asked = _run(BAISE, "广元市铝产业总产值是多少？", "那电解铝占全国多少？")
    assert asked[1] == "广元市铝产业总产值是多少？"
    # The year of the first question is gone with the reset.
    assert asked[2] == "广元市电解铝占全国多少？"


def test_long_question_without_a_marker_stands_alone():
    question = "铝产业集群的规模有多大，具体有哪些企业参与其中？"
    assert _run(BAISE, question)[1] == question


def test_organisation_question_is_complete():
    question = "山东魏桥铝电有限公司关停了几台机组？"
    resolved, state = resolve_followup(question, resolve_followup(BAISE, None)[1])
    assert resolved == question
    assert state.organisation == "山东魏桥铝电有限公司" and state.place == ""


def test_english_follow_ups():
    first = "By what percentage did Guangyuan's aluminium industry output value grow year on year?"
    asked = _run(first, "What about Baise?", "and how much electrolytic aluminium?")
    assert asked[1] == first.replace("Guangyuan", "Baise")
    assert asked[2] == "how much electrolytic aluminium in Baise?"


def test_place_name_starting_with_na_is_not_a_marker():
    # 那曲 is a place, not 那 + 曲.
    asked = _run("铝产业集群的规模有多大，具体有哪些企业参与其中？", "那曲市呢？")
    assert asked[1].startswith("那曲市铝产业集群")


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_returned_empty(question):
    resolved, state = resolve_followup(question, None)
    assert resolved == "" and state == ConversationState()


@pytest.mark.parametrize("first, follow_up", [
    ("火星上有多少座铝厂？", "<script>window.__xss=1</script>"),
    ("火星上有多少座铝厂？", "电解铝呢？"),
])
def test_nothing_to_carry_leaves_the_question_as_typed(first, follow_up):
    assert _run(first, follow_up)[1] == follow_up


def test_clearing_is_starting_without_a_state():
    # The page's Clear button sets the state to None: the next question stands alone.
    assert resolve_followup("那电解铝占全国多少？", None)[0] == "那电解铝占全国多少？"


class _EchoQA:
    """Answers every question with itself as the sentence, and remembers what it was asked."""

    def __init__(self):
        self.asked = []

    def ask(self, question):
        from qa.api import QuestionError, prepare_question
        from qa.types import Answer

        if not question.strip():
            raise QuestionError("the question is empty: type a question")
        self.asked.append(question)
        return Answer(question=prepare_question(question)[0], found=True, sentence=question, citation=None, probability=0.9)


def test_conversation_resolves_follow_ups_and_says_what_it_asked():
    from qa import Conversation

    fake = _EchoQA()
    c = Conversation(qa=fake)
    first = c.ask("2022年百色市铝产业总产值是多少？")
    assert first.question == "2022年百色市铝产业总产值是多少？" and first.typed == ""
    follow = c.ask("广元呢？")
    assert follow.question == fake.asked[-1] and "广元" in follow.question and "2022年" in follow.question
    assert follow.typed == "广元呢？" and follow.to_dict()["typed"] == "广元呢？"
    c.reset()
    assert c.ask("广元呢？").question == "广元呢？"


def test_a_question_that_cannot_be_asked_leaves_the_conversation_as_it_was():
    from qa import Conversation, QuestionError

    c = Conversation(qa=_EchoQA())
    c.ask("2022年百色市铝产业总产值是多少？")
    state = c.state
    with pytest.raises(QuestionError):
        c.ask("   ")
    assert c.state == state
    assert "百色" in c.ask("那电解铝占全国多少？").question


def test_the_stateless_form_resolves_as_the_conversation_does():
    from qa import Conversation, resolve_history

    history = ["2022年百色市铝产业总产值是多少？", "那电解铝占全国多少？"]
    c = Conversation(qa=_EchoQA())
    for question in history:
        c.ask(question)
    assert resolve_history("广元呢？", history)[0] == c.ask("广元呢？").question
    assert resolve_history("广元呢？", [])[0] == "广元呢？"


def _after(question: str, answer: str, follow_up: str, answer_text: str = "") -> str:
    """What is asked for `follow_up` after `question` was answered with the sentence `answer`
    (and the selector's exact answer `answer_text`)."""
    _, state = resolve_followup(question, None)
    return resolve_followup(follow_up, dataclasses.replace(state, answer=answer, answer_text=answer_text))[0]


def test_a_pronoun_stands_for_the_person_the_previous_answer_named():
    answer = "代表团由联盟会长张三丰带队，一行30人。"
    assert _after("代表团的领队是谁？", answer, "他在联盟里担任什么职务？") == "张三丰在联盟里担任什么职务？"
    assert _after("Who led the delegation?", answer, "What did he present?") == "What did 张三丰 present?"
    assert _after("Who led the delegation?", answer, "What is his title?") == "What is 张三丰's title?"


def test_a_new_subject_keeps_what_the_previous_question_said_of_its_figure():
    assert resolve_followup("电解铝呢？", resolve_followup("2022年百色市氧化铝产量占全国多少？", None)[1])[0] == \
        "2022年百色市电解铝占全国多少？"
    assert resolve_followup("电解铝呢？", resolve_followup("2022年百色市铝产业总产值是多少？", None)[1])[0] == \
        "2022年百色市电解铝是多少？"


def test_a_question_about_a_figure_without_one_is_about_the_previous_figure():
    assert resolve_followup("占全区多少？", resolve_followup("2022年百色市电解铝占全国多少？", None)[1])[0] == \
        "2022年百色市电解铝占全区多少？"
    assert resolve_followup("同比增长多少？", resolve_followup("广元市去年底铝产业产值是多少？", None)[1])[0] == \
        "广元市去年底铝产业产值同比增长多少？"
    # Not a figure's predicate: only the place and year are carried.
    assert resolve_followup("下一步打算怎么推进？", resolve_followup("2022年百色市铝产业总产值是多少？", None)[1])[0] \
        == "2022年百色市下一步打算怎么推进？"


def test_he_is_the_person_the_previous_question_asked_about_or_asked_for():
    answer = "滨州市委常委、常务副市长张伟,山东省铝业协会会长、魏桥创业集团董事长张波在会上讲话。"
    # The question named him: he is not the other person the answer names.
    assert _after("张波是什么身份？", answer, "他说了什么？") == "张波说了什么？"
    # The question asked who: he is the one the answer's sentence names right before the asked
    # verb, not the first person it lists, nor an office jieba tags as a name (宣传部).
    chaired = "广元市委常委、宣传部部长赵文峤出席会议,广元市人民政府副市长伍荣华主持会议。"
    assert _after("谁主持了会议？", chaired, "他是什么职务？") == "伍荣华是什么职务？"
    assert _after("会议由谁主持？", "滨州市副市长刘裕斌主持会议。", "他说了什么？") == "刘裕斌说了什么？"
    # No name before the verb: the first person the sentence names that the question does not.
    announced = "宣传部部长赵文峤出席会议并宣布联盟成立,副市长伍荣华主持会议。"
    assert _after("谁宣布联盟成立？", announced, "他是什么职务？") == "赵文峤是什么职务？"
    _, state = resolve_followup("谁主持了会议？", None)
    given = dataclasses.replace(state, answer=chaired, answer_text="伍荣华")
    assert resolve_followup("他是什么职务？", given)[0] == "伍荣华是什么职务？"


def test_this_kind_stands_for_the_name_of_that_kind_in_the_previous_answer():
    answer = "与会领导首先参观了魏桥轻量化基地，该基地总投资100亿元。"
    assert _after("与会领导先参观了哪里？", answer, "建这个基地一共要投多少钱？") == "建魏桥轻量化基地一共要投多少钱？"
    # 它 stands for the organisation the previous question named.
    assert _after("魏桥创业集团三年关停了几个热电厂？", "", "它的营业收入是多少？") == "魏桥创业集团的营业收入是多少？"


def test_a_reference_with_nothing_to_point_at_is_left_to_the_other_rules():
    # No person in the answer or the question: the follow-up is not rewritten with a guess.
    assert _after("2022年百色市铝产业总产值是多少？", "总产值1045亿元。", "他说了什么？") == "他说了什么？"


def test_the_stateless_form_asks_again_for_an_answer_the_next_question_points_at():
    from qa.conversation import ask_with_history
    from qa.types import Answer

    class Named(_EchoQA):
        def ask(self, question):
            self.asked.append(question)
            return Answer(question=question, found=True, sentence="代表团由联盟会长张三丰带队。", citation=None, probability=0.9)

    first, follow_up = "代表团的领队是谁？", "他在联盟里担任什么职务？"
    fake = Named()
    reply = ask_with_history(fake, follow_up, [first])
    assert fake.asked == [first, "张三丰在联盟里担任什么职务？"] and reply.typed == follow_up
    from qa import Conversation

    c = Conversation(qa=Named())
    c.ask(first)
    assert c.ask(follow_up).question == reply.question


# -- list follow-ups ----------------------------------------------------------------------------

@pytest.mark.parametrize("question, number, noun", [
    ("第二条呢？", 2, ""),
    ("第三項呢？", 3, ""),
    ("那第5项是什么？", 5, ""),
    ("第十二条呢？", 12, ""),
    ("最後一個呢？", -1, ""),
    ("还有哪些问题？", 0, "问题"),
    ("除此之外还有哪些？", 0, ""),
    ("另外那家公司呢？", 0, "公司"),
    ("And the third one?", 3, ""),
    ("What about the last point?", -1, ""),
    ("What else?", 0, ""),
])
def test_a_follow_up_asking_for_a_list_item_says_which(question, number, noun):
    from qa.enumeration import asked_item

    item = asked_item(question)
    assert (item.number, item.noun) == (number, noun)


@pytest.mark.parametrize("question", ["第二条措施的投资是多少？", "还有哪些企业作为骨干支撑了集群发展？",
                                      "广元呢？", "What is the second largest city?"])
def test_a_question_about_an_item_is_not_a_request_for_one(question):
    from qa.enumeration import asked_item

    assert asked_item(question) is None


def _sentences(text: str):
    from embeddings.text.split import segment_articles
    from embeddings.types import Article

    return segment_articles([Article("x.txt", "标题", "", "", text, "hash")])[0]


_SPEECH = ("会议召开。市长在讲话中指出，发展形势很好。他要求，一是要抓规划，引导产业发展。二是要抓项目，优化投资。"
           "项目要落地见效。三是要抓招商，壮大集群。\n"
           "会议还提出，首先要稳住存量。其次要扩大增量。最后要提升质量。")


@pytest.mark.parametrize("previous, question, expected", [
    ("他要求", "第二条呢？", "二是要抓项目"),  # the sentence before a list introduces it
    ("他要求", "最后一点呢？", "三是要抓招商"),
    ("一是要抓规划", "第三条呢？", "三是要抓招商"),
    ("二是要抓项目", "还有呢？", "三是要抓招商"),
    ("项目要落地见效", "还有哪些？", "三是要抓招商"),  # inside item 2, which runs on
    ("首先要稳住存量", "第二点呢？", "其次要扩大增量"),
    ("首先要稳住存量", "最后一点呢？", "最后要提升质量"),
])
def test_the_asked_item_is_found_in_the_list_of_the_previous_answer(previous, question, expected):
    from qa.enumeration import asked_item, item_sentence

    sentences = _sentences(_SPEECH)
    at = next(i for i, sentence in enumerate(sentences) if previous in sentence.text)
    assert expected in item_sentence(sentences, at, asked_item(question)).text


def test_an_item_the_list_does_not_have_is_not_made_up():
    from qa.enumeration import asked_item, item_sentence

    sentences = _sentences(_SPEECH)
    at = next(i for i, sentence in enumerate(sentences) if "一是要抓规划" in sentence.text)
    assert item_sentence(sentences, at, asked_item("第五条呢？")) is None
    # A sentence after the list's paragraph belongs to no list.
    sentences = _sentences("他要求，一是要抓规划。二是要抓项目。\n会议最后进行了签约。")
    assert item_sentence(sentences, len(sentences) - 1, asked_item("第二条呢？")) is None


def test_the_rest_of_an_inline_list_is_the_sentence_that_holds_it():
    from qa.enumeration import asked_item, item_sentence

    sentences = _sentences("当前存在加工能力较弱、附加值较低、终端产品较少等问题。未来要延伸产业链。")
    assert item_sentence(sentences, 0, asked_item("还有哪些问题？")) is sentences[0]
    # What the follow-up calls the items must be what the sentence lists.
    assert item_sentence(sentences, 0, asked_item("还有哪些企业？")) is None


def test_a_list_follow_up_keeps_the_state_of_the_question_whose_list_it_is():
    from qa.conversation import resolve

    _, state = resolve_followup("崔洪刚提出的第一项措施是什么？", None)
    resolution = resolve("第二条呢？", state)
    assert resolution.asked == "第二条呢？" and resolution.item.number == 2 and resolution.state == state


def _cited_state(qa, doc: str, holding: str, question: str = "会上提出了哪些要求？"):
    """A state whose previous answer is the sentence of seed article `doc` holding `holding`."""
    from embeddings.text.normalize import normalize
    from embeddings.text.split import segment_articles
    from qa.answerer import cite

    article = qa.index.get_article(doc)
    sentence = next(s for s in segment_articles([article])[0] if holding in normalize(s.text))
    return dataclasses.replace(resolve_followup(question, None)[1], answer=sentence.text,
                               cited=cite(sentence, article))


def test_list_follow_ups_are_answered_from_the_previous_answers_list(stub_qa):
    from qa.conversation import LIST_FOLLOWUP, ask_followup

    from embeddings.text.normalize import normalize

    state = _cited_state(stub_qa, "002_733b682e48002f6f.txt", "赵文峤指出")  # the sentence before 他要求，一是…
    answer, state = ask_followup(stub_qa, "那第三項是什么？", state)
    assert "三是要发挥好创新作用" in normalize(answer.sentence) and answer.selector == LIST_FOLLOWUP
    assert answer.citation.doc == "002_733b682e48002f6f.txt" and answer.citation.paragraph == 2
    answer, _ = ask_followup(stub_qa, "最后一点呢？", state)
    assert "四是要发挥好推动作用" in normalize(answer.sentence)


def test_a_list_item_that_cannot_be_found_is_asked_as_typed_and_says_so(stub_qa):
    from qa.conversation import ask_followup

    state = _cited_state(stub_qa, "004_7ed03d3179984da0.txt", "会议现场")
    answer, _ = ask_followup(stub_qa, "第九条呢？", state)
    assert answer.question == "第九条呢？" and "followup_unresolved" in [note.code for note in answer.notes]


def test_the_stateless_form_gives_the_list_item_the_conversation_gives(stub_qa):
    from qa import Conversation
    from qa.conversation import ask_with_history

    history = ["崔洪刚部署全力推进5000亿级高端铝产业集群发展，一是要抓好什么？", "第二条呢？"]
    c = Conversation(qa=stub_qa)
    for question in history:
        c.ask(question)
    expected = c.ask("最后一条呢？")
    assert "七是要抓開放" in expected.sentence  # the article's own (traditional) script
    assert ask_with_history(stub_qa, "最后一条呢？", history).sentence == expected.sentence


# -- the previous answer's article --------------------------------------------------------------

@pytest.mark.parametrize("doc, holding", [
    ("004_7ed03d3179984da0.txt", "会议现场"),
    ("003_8edf2b04a933f642.txt", "全世界大多数可乐"),
    ("000_e9b847b5c34d142c.txt", "五是集群发展的优势强"),
])
def test_a_follow_up_is_answered_from_the_previous_answers_article_first(stub_qa, doc, holding):
    from qa.conversation import ask_followup

    # Three articles give a total investment: the one the conversation is in answers.
    answer, state = ask_followup(stub_qa, "总投资是多少？", _cited_state(stub_qa, doc, holding))
    assert answer.found and answer.citation.doc == doc
    assert "followup_article" in [note.code for note in answer.notes] and state.cited == answer.citation


def test_an_english_follow_up_gets_no_answer_from_an_article_without_its_new_place(stub_qa):
    from qa.conversation import ask_followup

    state = resolve_followup("How many industrial parks has Binzhou planned?", None)[1]
    answer, _ = ask_followup(stub_qa, "What about Guangyuan then?", state)
    assert answer.question == "How many industrial parks has Guangyuan planned?"
    if answer.found:
        assert "广元" in stub_qa.index.get_article(answer.citation.doc).text.replace("廣", "广")
    answer, _ = ask_followup(stub_qa, "What about Paris?", state)
    assert not answer.found and "followup_place" in [note.code for note in answer.notes]


# -- resolution rules ---------------------------------------------------------------------------

def test_an_english_follow_up_with_only_a_preposition_swaps_the_place():
    assert _run("Who is the mayor of Guangyuan?", "And of Baise?")[1] == "Who is the mayor of Baise?"


def test_capitalised_function_words_are_not_places():
    from qa.conversation import _slots

    assert _slots("Under its new plan, how large is the fund Binzhou set up?").place == "Binzhou"


def test_a_new_occasion_takes_the_place_of_the_first_part_of_the_previous_question():
    asked = _run("滨州召开推进会那天，讲话的是谁？", "那广元5月在昭化开的那次会议呢？")
    assert asked[1] == "广元5月在昭化开的那次会议，讲话的是谁？"


def test_a_short_follow_up_keeps_the_scene_the_previous_question_set():
    asked = _run("按照滨州出台的扶持政策，企业最多可获得多少奖励？", "最多能拿多少？")
    assert asked[1] == "按照滨州出台的扶持政策，最多能拿多少？"


def test_a_question_without_a_subject_leans_on_the_previous_one():
    assert _run(BAISE, "下一步打算从哪些方面入手？")[1] == "2022年百色市下一步打算从哪些方面入手？"
    assert _run(BAISE, "在这中间增长了多少？")[1] == "2022年百色市在这中间增长了多少？"


def test_a_zone_of_the_previous_place_is_swapped_with_it():
    assert _run("广元经开区已经形成哪些产业链环节？", "百色呢？")[1] == "百色市已经形成哪些产业链环节？"


def test_a_place_jieba_tags_as_a_name_is_not_taken_for_the_person():
    answer = "邹平市委副书记、市长张谦在会上介绍了规划。"
    assert _after("Who is the mayor of Zouping?", answer, "What did he present?") == "What did 张谦 present?"


def test_it_stands_for_the_thing_the_previous_answer_gave():
    _, state = resolve_followup("What aluminium park has that city built?", None)
    named = dataclasses.replace(state, answer="邹平市建设的魏桥铝深加工产业园吸引了15个项目。",
                                answer_text="魏桥铝深加工产业园")
    assert resolve_followup("Which companies moved into it?", named)[0] == "Which companies moved into 魏桥铝深加工产业园?"
    # Without the exact answer, what the question asked for stands in.
    unnamed = dataclasses.replace(named, answer_text="")
    assert resolve_followup("Which companies moved into it?", unnamed)[0] == \
        "Which companies moved into the aluminium park?"
    # After a question asking for a figure, 它 is still the organisation named before.
    assert _after("魏桥创业集团停运了多少台机组？", "停运42台机组。", "它投了多少钱？") == "魏桥创业集团投了多少钱？"


def test_it_after_a_figure_with_no_thing_named_is_the_subject_or_the_figure():
    previous = "2022年百色市氧化铝产量是多少？"
    answer = "氧化铝产量959.33万吨,约占全国的11.38%,占全区的79%;"
    # "它的X": the previous subject's X, with its place and year.
    assert _after(previous, answer, "它的电解铝产量呢？") == "2022年百色市电解铝产量是多少？"
    # "它" alone: the figure asked about.
    assert _after(previous, answer, "它占全国多少？") == "2022年百色市氧化铝产量占全国多少？"
    assert _after("广元市去年底铝产业产值是多少？", "去年底,广元市铝产业实现产值85.6亿元,同比增长31.2%。",
                  "它同比增长多少？") == "广元市去年底铝产业产值同比增长多少？"


def test_a_pronoun_it_cannot_resolve_is_asked_as_typed_and_says_so():
    from qa.conversation import ask_followup

    answer, _ = ask_followup(_EchoQA(), "他说了什么？", resolve_followup(BAISE, None)[1])
    assert answer.question == "他说了什么？" and "followup_unresolved" in [note.code for note in answer.notes]


def test_an_english_follow_up_naming_only_its_subject_takes_the_previous_question_s_beginning():
    first = "What was the total output value of Baise's aluminium industry in 2022?"
    assert _run(first, "What about alumina output?")[1] == "What was the alumina output in Baise in 2022?"
    # A follow-up that asks for itself keeps its own words.
    assert _run(first, "and how much electrolytic aluminium?")[1] == "how much electrolytic aluminium in Baise in 2022?"


def test_english_it_after_a_who_question_is_what_its_verb_acted_on():
    first = "Who chaired the founding meeting of the Guangyuan aluminium industry alliance?"
    assert _run(first, "Where was it held?")[1] == \
        "Where was the founding meeting of the Guangyuan aluminium industry alliance held?"


def test_a_target_year_follow_up_asks_the_same_figure_for_that_year():
    first = "2020年滨州市高端铝产业集群营业收入是多少？"
    assert _run(first, "到2025年呢？")[1] == "到2025年滨州市高端铝产业集群营业收入是多少？"
    # A target said of the figure for another year takes the figure asked before.
    asked = _run("2016年滨州市新增会员多少家？", "会员总数呢？", "2017年要达到多少家？")
    assert asked[2] == "滨州市2017年会员总数要达到多少家？"


def test_the_person_doing_what_was_asked_may_be_named_before_the_whole_predicate():
    spoke = "滨州市委常委、常务副市长张伟,山东省铝业协会会长、魏桥创业集团董事长张波在会上讲话。"
    assert _after("谁在会上讲话？", spoke, "她是什么职务？") == "张波是什么职务？"


def test_this_kind_that_names_no_place_keeps_the_previous_place():
    projects = "今年,林丰铝电、中孚实业2个投资超20亿元重大产业项目按照“一年双投”的目标有序推进。"
    assert _after("广元经开区今年推进的重大产业项目有哪些？", projects, "这些项目的投资是多少？") == \
        "广元经开区产业项目的投资是多少？"


def test_this_firm_is_the_firm_the_previous_answer_gave():
    built = "魏桥创业以新型合金、循环产业为两大抓手,建设了魏桥轻量化基地。"
    assert _after("滨州市哪家企业建设了轻量化基地？", built, "该公司还建设了什么？", answer_text="魏桥创业") == \
        "滨州市魏桥创业还建设了什么？"
    # Without an exact answer nothing is guessed: asked as typed.
    assert _after("滨州市哪家企业建设了轻量化基地？", built, "该公司还建设了什么？") == "该公司还建设了什么？"


def test_english_that_ending_a_follow_up_is_the_figure_asked_before():
    asked = _run("What was the alumina output in Baise in 2022?", "How much of the national total is that?")
    assert asked[1] == "How much of the national total is the alumina output in Baise in 2022?"
    # "that" before a noun is a determiner, not the figure.
    assert "that city" in _run("What was the alumina output in Baise in 2022?", "What park has that city built?")[1]


def test_they_after_a_which_ones_question_are_the_things_it_listed():
    projects = "今年,林丰铝电、中孚实业2个投资超20亿元重大产业项目按照“一年双投”的目标有序推进。"
    assert _after("广元经开区今年推进的重大产业项目有哪些？", projects, "它们的投资是多少？") == \
        "广元经开区重大产业项目的投资是多少？"


@pytest.mark.parametrize("first, follow_up, asked", [
    ("百色电解铝产量是多少？", "它的全国占比呢？", "百色市电解铝产量的全国占比呢？"),
    ("百色电解铝产量是多少？", "全国占比呢？", "百色市电解铝产量的全国占比呢？"),
    ("广元市铝产业去年底产值多少？", "增速是多少？", "广元市铝产业去年底产值的增速是多少？"),
    # another figure of the same place is still the place's, not the figure's
    ("2022年百色市氧化铝产量是多少？", "它的电解铝产量呢？", "2022年百色市电解铝产量是多少？"),
])
def test_a_share_or_growth_named_as_a_noun_is_of_the_figure_asked_before(first, follow_up, asked):
    assert _run(first, follow_up)[1] == asked


def test_a_year_opening_an_event_name_is_not_carried_as_a_year_or_place():
    event = "2023中国产业转移发展对接活动（广西）在哪里开幕？"
    assert _run(event, "谁致欢迎词？")[1] == "谁致欢迎词？"
    # a year with 年 is still the question's year
    assert _run("2022年百色市氧化铝产量是多少？", "广元呢？")[1] == "2022年广元市氧化铝产量是多少？"


@pytest.mark.parametrize("first, follow_up, asked", [
    ("What share of China's electrolytic aluminium did Baise produce in 2022?", "And of alumina?",
     "What share of China's alumina did Baise produce in 2022?"),
    # "of Baise" is the place the follow-up keeps: nothing of the previous question is swapped
    ("What was the alumina output of Baise in 2022?", "And of electrolytic aluminium?",
     "What was the electrolytic aluminium in Baise in 2022?"),
])
def test_an_english_of_phrase_takes_the_place_of_the_previous_one(first, follow_up, asked):
    assert _run(first, follow_up)[1] == asked


@pytest.mark.parametrize("first, follow_up, asked", [
    ("What was Guangyuan's aluminium output value at the end of last year?", "How much did it grow year on year?",
     "How much did Guangyuan's aluminium output value at the end of last year grow year on year?"),
    ("What was Baise's alumina output in 2022?", "What share of the national total is that?",
     "What share of the national total is Baise's alumina output in 2022?"),
    # the role is a person: "its" is the thing the role is of
    ("Who is the chairman of the Guangyuan aluminium industry alliance?", "Who chaired its founding meeting?",
     "Who chaired the Guangyuan aluminium industry alliance's founding meeting?"),
])
def test_english_it_after_a_question_for_a_figure_or_a_role(first, follow_up, asked):
    assert _run(first, follow_up)[1] == asked


def test_they_after_a_question_for_which_things_are_the_things_it_named_after_the_question_word():
    assert _run("广元经开区今年推进哪些重大产业项目？", "它们投资多少？")[1] == "广元经开区重大产业项目投资多少？"


def test_a_year_named_relative_to_today_takes_the_place_of_the_previous_year():
    assert _run("2022年百色市铝产业总产值是多少？", "去年呢？")[1] == "去年百色市铝产业总产值是多少？"


def test_he_is_not_a_name_that_begins_an_organisation_and_a_surname_cut_off_is_joined():
    previous = dataclasses.replace(resolve_followup("哪家公司的总经理作了主旨演讲？", None)[1],
                                   answer="阿拉丁资本管理有限公司总经理蔡奇峰就现代铝业发展作主旨演讲。")
    assert resolve_followup("他叫什么名字？", previous)[0] == "蔡奇峰叫什么名字？"
