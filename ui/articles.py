"""The page's link to corpus management: add or remove articles for a running `QA`, which then reloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from embeddings.corpus.articles import AddReport, RemoveReport, add_articles, remove_articles


def encoder_of(qa: Any) -> Any:
    """The encoder a running `QA` embeds questions with, or None when it has not loaded one."""
    own = getattr(qa, "_encoder", None)
    if own is not None:
        return own
    ready = getattr(qa, "_ready", None)
    return getattr(getattr(ready, "retriever", None), "encoder", None)


def _model_and_encoder(qa: Any) -> tuple[str | None, Any]:
    qa.warm_up()  # the model is loaded once and reused for the rebuild
    encoder = encoder_of(qa)
    return (None if encoder is not None else qa.index.manifest.model), encoder


# One upload from the page adds at most this many sentences, as many as the largest
# article may hold: the longest a page upload holds the build lock. With one
# sentence per paragraph that is up to twice as many texts to embed (a passage
# each); 4,000 sentences (7,579 texts) took 342 s with the test suite running
# beside it, so this bound is about half that (docs/reliability.md). Questions
# are answered meanwhile from the loaded index.
MAX_UPLOAD_SENTENCES = 2_000


def add_to_qa(qa: Any, paths: Iterable[Path | str], names: Iterable[str] | None = None,
              max_new_sentences: int | None = MAX_UPLOAD_SENTENCES, on_stage=None) -> AddReport:
    """Add articles to the corpus a `QA` answers from, rebuild its index and make it load the new one.

    Args:
        qa: a `qa.QA` (its `settings.corpus_dir` and `settings.index_dir` are used).
        paths: the files to add.
        names: the names the files came with (uploads arrive as temporary copies).
    """
    model, encoder = _model_and_encoder(qa)
    report = add_articles(paths, qa.settings.corpus_dir, qa.settings.index_dir, encoder=encoder,
                          model=model, names=names, store=getattr(qa.settings, "store", None),
                          max_new_sentences=max_new_sentences, on_stage=on_stage)
    if report.added:
        qa.reload()
        qa.warm_up()
    return report


def remove_from_qa(qa: Any, docs: Iterable[str]) -> RemoveReport:
    """Remove articles (by file name) from the corpus a `QA` answers from, rebuild and reload its index."""
    model, encoder = _model_and_encoder(qa)
    report = remove_articles(docs, qa.settings.corpus_dir, qa.settings.index_dir, encoder=encoder, model=model,
                             store=getattr(qa.settings, "store", None))
    if report.removed:
        qa.reload()
        qa.warm_up()
    return report
