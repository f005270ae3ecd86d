"""A like or dislike on the chat becomes a verdict line beside the index (`qa.training.feedback`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from qa.training.feedback import Verdict, append_verdict
from ui.chat import Turn
from ui.i18n import t
from ui.render import escape_text

logger = logging.getLogger(__name__)


def _corpus_hash(qa: Any) -> str:
    try:
        return qa.index.manifest.corpus_hash
    except Exception:  # a fake or an unloadable index: the verdict is still worth keeping
        return ""


def record_verdict(qa: Any, feedback_file: Path | str | None, turns: list[Turn], index: Any, liked: Any,
                   comment: str | None, lang: str) -> tuple[str, str]:
    """Append the verdict on the reply at chat message `index` and say so.

    Args:
        qa: the running QA (for the corpus hash of its index).
        feedback_file: the verdict file (None: verdicts cannot be kept, which is said).
        turns: the conversation's turns; message i belongs to turn i // 2.
        index: the liked message's index, as Gradio's LikeData gives it.
        liked: True (right), False (wrong), anything else (the verdict taken back).
        comment: what the person typed in the comment box, sent with the verdict.
        lang: the page language of the message.

    Returns:
        The status message, and the comment box's new value ("" once sent, kept on failure).
    """
    comment = (comment or "").strip()
    position = index[0] if isinstance(index, (list, tuple)) else index
    turn = turns[position // 2] if isinstance(position, int) and 0 <= position < 2 * len(turns) else None
    if turn is None or not turn.answered:
        return f"<p>{t(lang, 'verdict_no_answer')}</p>", comment
    reply = turn.reply  # an Answer: `answered` said so
    question = reply.question or turn.asked
    verdict = "right" if liked is True else "wrong" if liked is False else "withdrawn"
    if feedback_file is None:
        return f"<p>{escape_text(t(lang, 'verdict_failed', error='no index folder'))}</p>", comment
    try:
        append_verdict(feedback_file, Verdict(
            question=question, answer=reply.sentence if reply.found else None,
            citation=reply.to_dict()["citation"] if reply.found else None, verdict=verdict,
            comment=comment, corpus_hash=_corpus_hash(qa)))
    except OSError as error:
        logger.exception("writing a verdict to %s failed", feedback_file)
        return f"<p>{escape_text(t(lang, 'verdict_failed', error=error.strerror or error))}</p>", comment
    key = "verdict_withdrawn" if verdict == "withdrawn" else "verdict_saved"
    return f"<p>{escape_text(t(lang, key, question=question))}</p>", ""
