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


def _after(question: str, answer: str, follow_up: str) -> str:
    """What is asked for `follow_up` after `question` was answered with the sentence `answer`."""
    _, state = resolve_followup(question, None)
    return resolve_followup(follow_up, dataclasses.replace(state, answer=answer))[0]


def test_a_pronoun_stands_for_the_person_the_previous_answer_named():
    answer = "代表团由联盟会长张三丰带队，一行30人。"
    assert _after("代表团的领队是谁？", answer, "他在联盟里担任什么职务？") == "张三丰在联盟里担任什么职务？"
    assert _after("Who led the delegation?", answer, "What did he present?") == "What did 张三丰 present?"
    assert _after("Who led the delegation?", answer, "What is his title?") == "What is 张三丰's title?"


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
