"""The AluQA chat page and its JSON endpoint (Gradio), and `serve()` behind `aluqa serve`."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path
from typing import Any, Protocol

import gradio as gr

from embeddings.manifest import IndexLoadError
from qa.api import QA, QuestionError
from qa.types import Answer
from ui.render import UNEXPECTED, escape_text, render_reply

logger = logging.getLogger(__name__)

TITLE = "AluQA"
DESCRIPTION = (
    "Ask about the aluminium industry in China, in Chinese (简体/繁體) or English. "
    "The reply is one sentence quoted from a small corpus of Chinese news articles, with its source — "
    "or a plain statement that the corpus holds no answer."
)
EXAMPLES = (
    "2022年百色市铝产业总产值是多少？",
    "魏橋創業集團三年關停了幾個熱電廠？",
    "By what percentage did Guangyuan's aluminium industry output value grow year on year?",
    "百色市2021年铝产业总产值是多少？",
)
# Replies are HTML built from escaped text; only a few styles are added.
CSS = """
#aluqa-chat mark { background: #ffe58a; color: inherit; padding: 0 .1em; }
#aluqa-chat summary { cursor: pointer; }
#aluqa-chat blockquote { margin: .25em 0 .75em; }
"""


class Asker(Protocol):
    """Anything that answers like `qa.QA` (the real pipeline, or a fake in tests)."""

    def ask(self, question: str) -> Answer: ...


def respond(qa: Asker, question: str) -> dict[str, Any]:
    """Answer one question as JSON: the one code path of the chat and the API.

    Args:
        qa: the question answerer.
        question: the question as typed.

    Returns:
        `Answer.to_dict()`, or `{"question", "found": False, "error": message}`
        when the question cannot be asked or the index cannot be loaded.
    """
    try:
        return qa.ask(question).to_dict()
    except (QuestionError, IndexLoadError) as error:
        # Both messages are written for the user (the index one says how to rebuild).
        return {"question": question, "found": False, "error": str(error)}


def chat(qa: Asker, message: str, history: list[dict[str, Any]] | None) -> tuple[str, list[dict[str, Any]]]:
    """Add a question and its rendered reply to the conversation.

    Args:
        qa: the question answerer.
        message: the question typed in the textbox.
        history: the conversation so far, in Gradio's messages format.

    Returns:
        An empty textbox value and the conversation with the new turn.
    """
    try:
        reply = render_reply(respond(qa, message))
    except Exception:
        # The page must keep working; the traceback is for the console, not the user.
        logger.exception("answering %r failed", message)
        reply = f"<p>{UNEXPECTED}</p>"
    # The question is shown as typed: escaped, and in a <p> so Markdown leaves it alone.
    turn = [{"role": "user", "content": f"<p>{escape_text(message or '')}</p>"},
            {"role": "assistant", "content": reply}]
    return "", [*(history or []), *turn]


def build_demo(qa: Asker) -> gr.Blocks:
    """Build the chat page and the `/answer` endpoint without launching them.

    Args:
        qa: anything with `.ask(str) -> Answer`, e.g. `qa.QA()`.

    Returns:
        The Gradio app; call `.queue()` and `.launch()` on it to serve.
    """

    def on_message(message: str, history: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        return chat(qa, message, history)

    def answer(question: str) -> dict:
        """Answer a question with one cited sentence from the corpus (the JSON of `Answer.to_dict()`)."""
        return respond(qa, question)

    # Analytics off: the page must not call out to the internet.
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{DESCRIPTION}")
        chatbot = gr.Chatbot(
            label=TITLE, elem_id="aluqa-chat", height=520, feedback_options=None, buttons=["copy"],
            # Replies are already escaped HTML; the sanitizer stays on as a second guard,
            # and LaTeX is off so a "$" in a news sentence stays a dollar sign.
            sanitize_html=True, latex_delimiters=[],
        )
        with gr.Row():
            box = gr.Textbox(placeholder="Type a question, e.g. 2022年百色市铝产业总产值是多少？",
                             show_label=False, scale=8, autofocus=True)
            ask = gr.Button("Ask", variant="primary", scale=1, min_width=80)
            clear = gr.Button("Clear", scale=1, min_width=80)
        gr.Markdown("**Examples** (click to ask):")
        with gr.Row():
            example_buttons = [gr.Button(text, size="sm") for text in EXAMPLES]

        box.submit(on_message, [box, chatbot], [box, chatbot], api_name="chat")
        ask.click(on_message, [box, chatbot], [box, chatbot], api_visibility="private")
        for button in example_buttons:
            # A button's value is its label, so the example asks itself in one click.
            button.click(on_message, [button, chatbot], [box, chatbot], api_visibility="private")
        clear.click(lambda: ("", []), None, [box, chatbot], api_visibility="private")
        gr.api(answer, api_name="answer")
    return demo


def _is_loopback(host: str) -> bool:
    """True when only this machine can reach `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(index_dir: Path | str | None = None, host: str = "127.0.0.1", port: int = 7860,
          qa: Asker | None = None) -> int:
    """Load the index, then serve the chat page until stopped (Ctrl+C).

    Args:
        index_dir: the index folder (default: the index of `seeds/`, built if needed).
        host: address to listen on; anything but loopback exposes the page to the network.
        port: port to listen on.
        qa: an answerer to use instead of `QA(index_dir)`.

    Returns:
        0 once stopped, 3 when the index cannot be loaded, 1 when the port is taken.
    """
    qa = qa if qa is not None else QA(index_dir)
    try:
        # Load before listening: the first question is fast, and a bad index is
        # reported here rather than as an error on the page.
        if hasattr(qa, "warm_up"):
            qa.warm_up()
    except IndexLoadError as error:
        print(f"aluqa serve: {error}", file=sys.stderr)
        return 3
    if not _is_loopback(host):
        print(f"aluqa serve: warning: listening on {host}, so the page is reachable from the network "
              "(it has no login); use --host 127.0.0.1 to keep it local.", file=sys.stderr)
    demo = build_demo(qa)
    # A few questions at once: answering is short and the model is shared.
    demo.queue(default_concurrency_limit=4)
    try:
        demo.launch(server_name=host, server_port=port, show_error=False, share=False, css=CSS)
    except OSError as error:
        print(f"aluqa serve: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    """Serve the default index on http://127.0.0.1:7860 (`python -m ui.app`)."""
    return serve()


if __name__ == "__main__":
    sys.exit(main())
