"""AluQA: ask a question, get one cited sentence from the corpus (or an explicit "not found").

    >>> from qa import answer
    >>> a = answer("2022年百色市铝产业总产值是多少？")
    >>> a.sentence, a.citation.doc

Heavy libraries (torch, faiss, sentence-transformers, gradio) load on first use, not on import.
"""

from qa.api import QA, QuestionError, answer
from qa.conversation import Conversation, resolve_history
from qa.settings import Settings
from qa.types import Answer, AnswerSpan, Citation, PassageHit

__all__ = ["QA", "Answer", "AnswerSpan", "Citation", "Conversation", "PassageHit", "QuestionError", "Settings",
           "answer", "resolve_history"]
