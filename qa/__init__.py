"""AluQA: ask a question, get one cited sentence from the corpus (or an explicit "not found").

    >>> from qa import answer
    >>> a = answer("2022年百色市铝产业总产值是多少？")
    >>> a.sentence, a.citation.doc

Heavy libraries (torch, faiss, sentence-transformers, gradio) load on first use, not on import.
"""

from qa.api import QA, QuestionError, answer
from qa.settings import Settings
from qa.types import Answer, Citation, PassageHit

__all__ = ["QA", "Answer", "Citation", "PassageHit", "QuestionError", "Settings", "answer"]
