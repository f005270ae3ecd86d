"""A quick check of answer quality on samples of CMRC 2018 dev and DRCD dev (the full runs: `aluqa eval`)."""

import json

import pytest

from conftest import SHARED
from qa.training.datasets import contains_answer, ensure_squad_index, evaluate_squad, read_squad

# Every 40th passage of each dev set: a small corpus (about two dozen passages)
# whose questions are not the first ones the ranker was ever looked at against.
STEP = 40


def sample_file(source, target):
    data = json.loads(source.read_text(encoding="utf-8"))
    passages = [(article, paragraph) for article in data["data"] for paragraph in article["paragraphs"]]
    kept = {}
    for article, paragraph in passages[::STEP]:
        kept.setdefault(id(article), {**{k: v for k, v in article.items() if k != "paragraphs"},
                                      "paragraphs": []})["paragraphs"].append(paragraph)
    target.write_text(json.dumps({"version": "sample", "data": list(kept.values())}, ensure_ascii=False),
                      encoding="utf-8")
    return target


# The bars are the plain jieba+BM25 baselines of the full dev sets (0.70 CMRC, 0.80 DRCD);
# measured on these samples: 0.780 (82 questions) and 0.898 (88 questions).
@pytest.mark.slow
@pytest.mark.parametrize("name, bar", [("cmrc2018_dev", 0.70), ("drcd_dev", 0.80)])
def test_sample_accuracy(name, bar, tmp_path, real_qa):
    from embeddings.model.encoder import SentenceTransformerEncoder
    from qa.api import QA

    source = SHARED / "data" / f"{name}.json"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    squad = read_squad(sample_file(source, tmp_path / f"{name}-sample.json"))
    encoder = SentenceTransformerEncoder()
    ready = ensure_squad_index(squad, tmp_path / "index", encoder)
    report = evaluate_squad(QA(ready.folder, encoder=encoder), squad.questions, progress=False)
    figures = report.figures()
    misses = [(o.question.question, o.sentence) for o in report.outcomes if not o.correct][:10]
    assert figures["questions"] >= 60
    assert figures["sentence_accuracy_at_1"] >= bar, (figures, misses)
    assert figures["passage_recall_at_5"] >= 0.97, figures
    assert all(contains_answer(o.sentence, o.question.answers) == o.correct for o in report.outcomes)


@pytest.mark.slow
def test_cmrc_sample_on_milvus_is_within_a_point_of_the_local_index(tmp_path, real_qa):
    """The same sample answered from a Milvus Lite index and from the local one, same model, same questions."""
    from embeddings.store.milvus_write import sync_milvus
    from qa.api import QA

    source = SHARED / "data" / "cmrc2018_dev.json"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    squad = read_squad(sample_file(source, tmp_path / "cmrc2018_dev-sample.json"))
    encoder = real_qa.retriever.encoder
    local = QA(ensure_squad_index(squad, tmp_path / "index", encoder).folder, encoder=encoder)
    uri = str(tmp_path / "cmrc-sample.db")
    sync_milvus(uri, list(squad.articles), encoder, full=True)
    milvus = QA(settings=real_qa.settings.with_(store=f"milvus:{uri}"), encoder=encoder)
    figures = {name: evaluate_squad(qa, squad.questions, progress=False).figures()
               for name, qa in (("local", local), ("milvus", milvus))}
    assert figures["milvus"]["questions"] == figures["local"]["questions"] >= 60
    assert abs(figures["milvus"]["sentence_accuracy_at_1"] - figures["local"]["sentence_accuracy_at_1"]) <= 0.01, \
        figures
