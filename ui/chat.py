"""One chat turn: ask (with follow-ups), keep the reply's data, and render it in the page's language.

The page keeps the turns themselves, not their HTML, so that switching the
language re-renders the whole conversation and a verdict names the exact
answer it judges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from embeddings.store.manifest import IndexLoadError
from qa.api import QuestionError
from qa.conversation import ConversationState, ask_followup
from qa.types import Answer
from ui.i18n import DEFAULT_LANGUAGE, t
from ui.render import escape_text, render_reply, understood_line

logger = logging.getLogger(__name__)


class Asker(Protocol):
    """Anything that answers like `qa.QA` (the real pipeline, or a fake in tests)."""

    def ask(self, question: str) -> Answer: ...


def respond(qa: Asker, question: str, **scope: str) -> dict[str, Any]:
    """Answer one question as JSON: the one code path of the chat and the API.

    Args:
        qa: the question answerer.
        question: the question as typed.
        scope: `since`, `until`, `source` filters (`QA.ask`); empty ones are left out.

    Returns:
        `Answer.to_dict()`, or `Unasked.to_dict()`'s `{"question", "found": False, "error": message, ...}`
        when the question cannot be asked or the index cannot be loaded.
    """
    scope = {name: value for name, value in scope.items() if value}
    try:
        return qa.ask(question, **scope).to_dict()
    except (QuestionError, IndexLoadError) as error:
        # Both messages are written for the user (the index one says how to rebuild).
        return Unasked.of(question, error).to_dict()


@dataclass(frozen=True)
class Unasked:
    """A question that could not be asked, or an index that could not be read: what the page shows instead.

    Attributes:
        question: the question as it reached the answerer.
        message: the English message (`str(error)`).
        code, params: the message's code and values for the catalogues ("" when it has none).
        index_error: about the index, not the question.
    """

    question: str
    message: str
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    index_error: bool = False

    @classmethod
    def of(cls, question: str, error: Exception) -> "Unasked":
        return cls(question, str(error), getattr(error, "code", ""), dict(getattr(error, "params", {}) or {}),
                   isinstance(error, IndexLoadError))

    def to_dict(self) -> dict[str, Any]:
        """The JSON the HTTP API gives for it: `{"question", "found": False, "error", ...}`."""
        reply = {"question": self.question, "found": False, "error": self.message}
        if self.code:
            reply["error_code"], reply["error_params"] = self.code, dict(self.params)
        return reply


@dataclass(frozen=True)
class Turn:
    """One question of the conversation and what came back.

    Attributes:
        typed: the question as typed (shown escaped, never translated).
        asked: the question actually asked, after follow-up resolution.
        reply: the `Answer`, an `Unasked`, or None when answering failed unexpectedly.
    """

    typed: str
    asked: str
    reply: Answer | Unasked | None = field(default=None, compare=False)

    @property
    def answered(self) -> bool:
        """A reply to judge: an answer or a "not found", not an error."""
        return isinstance(self.reply, Answer)


def answer_turn(qa: Asker, message: str | None, state: ConversationState | None,
                **scope: str) -> tuple[Turn, ConversationState | None]:
    """Ask one question of the conversation, resolving a follow-up from `state`
    (`scope`: the page's date and source filter, as `QA.ask` takes it).

    Returns:
        The turn, and the new state (unchanged when the question could not be asked).
    """
    message = message or ""
    try:
        try:
            answer, resolved_state = ask_followup(qa, message, state, **scope)
        except (QuestionError, IndexLoadError) as error:
            return Turn(message, message, Unasked.of(message, error)), state
    except Exception:
        # The page must keep working; the traceback is for the console, not the user.
        logger.exception("answering %r failed", message)
        return Turn(message, message, None), state
    return Turn(message, answer.question, answer), resolved_state


def render_turn(turn: Turn, lang: str = DEFAULT_LANGUAGE) -> list[dict[str, Any]]:
    """The user's message and the reply as chat messages, labels in `lang`."""
    if turn.reply is None:
        reply = f"<p>{t(lang, 'unexpected')}</p>"
    elif isinstance(turn.reply, Unasked) and turn.reply.index_error:
        reply = f"<p>{escape_text(t(lang, 'index_error', error=turn.reply.message))}</p>"
    else:
        reply = render_reply(turn.reply.to_dict(), lang)
        if turn.answered and turn.asked != " ".join(turn.typed.split()):
            reply = f"{understood_line(turn.asked, lang)}\n\n{reply}"
    # The question is shown as typed: escaped, and in a <p> so Markdown leaves it alone.
    return [{"role": "user", "content": f"<p>{escape_text(turn.typed)}</p>"},
            {"role": "assistant", "content": reply}]


def render_history(turns: list[Turn], lang: str = DEFAULT_LANGUAGE) -> list[dict[str, Any]]:
    """The whole conversation as chat messages: two per turn, so message i belongs to turn i // 2."""
    return [message for turn in turns for message in render_turn(turn, lang)]


def chat(qa: Asker, message: str, history: list[dict[str, Any]] | None,
         state: ConversationState | None = None,
         lang: str = DEFAULT_LANGUAGE) -> tuple[str, list[dict[str, Any]], ConversationState | None]:
    """Add a question and its rendered reply to a conversation (the `/chat` API).

    Args:
        qa: the question answerer.
        message: the question typed in the textbox.
        history: the conversation so far, in Gradio's messages format.
        state: what the previous question was about (None at the start).
        lang: the language of the reply's labels.

    Returns:
        An empty textbox value, the conversation with the new turn, and the new state.
    """
    turn, new_state = answer_turn(qa, message, state)
    return "", [*(history or []), *render_turn(turn, lang)], new_state
