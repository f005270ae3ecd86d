"""Reading questions (answer type, places, names) and recognising answers of the asked type."""

import pytest

from embeddings.text.normalize import normalize
from qa.answerer import _DATE, _NUMBER
from qa.question import DATE, NUMBER, OTHER, PLACE, expected_type, named_things, parse_question, place_names


def parse_type(question: str) -> str:
    return expected_type(normalize(question))


@pytest.mark.parametrize(("question", "kind"), [
    ("2022年百色市铝产业总产值是多少？", NUMBER),
    ("广西氧化铝产量占全国的比例", NUMBER),
    ("What percentage of alumina comes from Guangxi?", NUMBER),
    # 比例 names what is compared; the question asks which kind, not how much.
    ("市場上以哪一種米的比例最多？", OTHER),
    ("摩加迪休是哪一國家的主要海港？", PLACE),
    ("盤古大陸在何時開始分裂？", DATE),
])
def test_expected_answer_type(question, kind):
    assert parse_type(question) == kind


@pytest.mark.parametrize(("question", "places"), [
    ("2022年百色市铝产业总产值是多少？", ("百色市",)),
    ("广元呢？", ("广元",)),
    # Common nouns that jieba tags as places name no place.
    ("掌球戲在改良的過程中繩子被什麼東西取代？", ()),
    ("2004年的奧運會是在哪一個城市舉行的?", ()),
    ("廣東哪一行政區是第三個光復的縣？", ("广东",)),
    # A determiner before a place noun refers to no particular place ...
    ("全国有几省？", ()),
    ("两国的贸易额是多少？", ()),
    # ... but names that begin with the same characters stay places.
    ("多伦多有多少人口？", ("多伦多",)),
    ("本溪市的铝产量是多少？", ("本溪市",)),
    ("几内亚的铝土矿储量是多少？", ("几内亚",)),
])
def test_place_names(question, places):
    assert place_names(normalize(question)) == places


@pytest.mark.parametrize(("question", "names"), [
    ("刘少奇采纳谁的提议？", ("刘少奇",)),
    ("华为公司在百色市投资了多少？", ("华为公司",)),
    # Common words that jieba's dictionary also tags as given names are not names.
    ("是什么驱使居民住进更安静的郊区住宅?", ()),
    ("王朝的钱财何时耗尽？", ()),
    ("2022年百色市铝产业总产值是多少？", ()),
])
def test_named_things(question, names):
    assert named_things(normalize(question)) == names


def test_english_questions_name_nothing_to_check():
    # An English name may stand in the Chinese article under its Chinese form.
    assert parse_question("What did Li Keqiang say about Baise?").names == ()


@pytest.mark.parametrize(("sentence", "is_date"), [
    ("2012年，印尼圣那塔达玛大学加入。", True),
    ("书写形式是当梵语发展成俗语之后才出现的。", True),
    ("盘古大陆在侏罗纪开始分裂。", True),
    ("元朝时被官方称为亚圣。", True),
    ("镇在宋代末以前具有军事特色。", True),
    ("代表大会在朝鲜半岛以外举行。", False),
    ("这是一个现代化城市，设有纪念碑。", False),
])
def test_time_expressions(sentence, is_date):
    assert bool(_DATE.search(sentence)) is is_date


@pytest.mark.parametrize(("sentence", "numbers"), [
    ("刘宋动员了四十万兵力。", ["四十万"]),
    ("采伐量占三分之一至二分之一。", ["三分之一", "二分之一"]),
    ("比赛最多五盘。", ["五"]),
    ("这十分重要，千万不要忘记。", []),
    ("关停42台机组。", ["42"]),
])
def test_numbers_in_words_and_digits(sentence, numbers):
    assert _NUMBER.findall(sentence) == numbers
