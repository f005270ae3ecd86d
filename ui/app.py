"""The AluQA chat page and its JSON endpoint (Gradio), and `serve()` behind `aluqa serve`."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path
from typing import Any, Protocol

import gradio as gr

from embeddings.corpus import CorpusError, MAX_ARTICLE_BYTES
from embeddings.manifest import IndexLoadError
from qa.api import QA, QuestionError, prepare_question
from qa.settings import Settings
from qa.conversation import ConversationState, resolve_followup
from qa.types import Answer
from ui.render import (UNEXPECTED, articles_table, escape_text, render_reply, understood_line,
                       upload_message)

logger = logging.getLogger(__name__)

TITLE = "AluQA"
DESCRIPTION = (
    "Ask about the aluminium industry in China, in Chinese (简体/繁體) or English. "
    "The reply is one sentence quoted from a small corpus of Chinese news articles, with its source — "
    "or a plain statement that the corpus holds no answer. "
    "Follow-up questions such as 那电解铝占全国多少？ or 广元呢？ keep the place and year of the previous one."
)
EXAMPLES = (
    "2022年百色市铝产业总产值是多少？",
    "魏橋創業集團三年關停了幾個熱電廠？",
    "By what percentage did Guangyuan's aluminium industry output value grow year on year?",
    "百色市2021年铝产业总产值是多少？",
)
# Replies are HTML built from escaped text; only a few styles are added. No fixed
# widths: long passages and tables wrap or scroll inside themselves on a phone.
CSS = """
#aluqa-chat mark { background: #ffe58a; color: inherit; padding: 0 .1em; }
#aluqa-chat summary { cursor: pointer; }
#aluqa-chat blockquote { margin: .25em 0 .75em; overflow-wrap: anywhere; }
#aluqa-chat code, .aluqa-articles code { overflow-wrap: anywhere; }
.aluqa-articles { overflow-x: auto; max-width: 100%; }
.aluqa-articles table { border-collapse: collapse; font-size: .9em; }
.aluqa-articles td, .aluqa-articles th { border-bottom: 1px solid #ddd; padding: .2em .4em; text-align: left; }
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


def chat(qa: Asker, message: str, history: list[dict[str, Any]] | None,
         state: ConversationState | None = None) -> tuple[str, list[dict[str, Any]], ConversationState | None]:
    """Add a question and its rendered reply to the conversation, resolving follow-ups.

    Args:
        qa: the question answerer.
        message: the question typed in the textbox.
        history: the conversation so far, in Gradio's messages format.
        state: what the previous question was about (None at the start).

    Returns:
        An empty textbox value, the conversation with the new turn, and the new state
        (unchanged when the question could not be asked).
    """
    new_state = state
    try:
        try:
            # Follow-up rules read the cleaned question (no control or invisible characters).
            typed = prepare_question(message)[0]
        except QuestionError:
            typed = message or ""  # `respond` turns it into the error reply
        asked, resolved_state = resolve_followup(typed, state)
        data = respond(qa, asked)
        reply = render_reply(data)
        if not data.get("error"):
            new_state = resolved_state
            if asked != " ".join((message or "").split()):
                reply = f"{understood_line(asked)}\n\n{reply}"
    except Exception:
        # The page must keep working; the traceback is for the console, not the user.
        logger.exception("answering %r failed", message)
        reply = f"<p>{UNEXPECTED}</p>"
    # The question is shown as typed: escaped, and in a <p> so Markdown leaves it alone.
    turn = [{"role": "user", "content": f"<p>{escape_text(message or '')}</p>"},
            {"role": "assistant", "content": reply}]
    return "", [*(history or []), *turn], new_state


def list_articles(qa: Asker) -> str:
    """The articles of the QA's index as an HTML table (a note when it cannot be read)."""
    try:
        articles = getattr(qa, "index").articles.values()
    except (AttributeError, IndexLoadError, CorpusError) as error:
        return f"<p>The article list is not available: {escape_text(error)}</p>"
    rows = [{"title": a.title, "source": a.source, "date": a.date, "doc": a.doc}
            for a in sorted(articles, key=lambda a: a.doc)]
    return articles_table(rows)


def upload(qa: Asker, files: list[str] | str | None) -> tuple[str, str]:
    """Add uploaded article files to the QA's corpus and index; they are answerable at once.

    Args:
        qa: a `qa.QA` (its corpus and index folders are used).
        files: paths of the uploaded copies (Gradio keeps the original file names).

    Returns:
        A message naming each file and what happened to it, and the refreshed article list.
    """
    from ui.articles import add_to_qa

    paths = [files] if isinstance(files, str) else list(files or [])
    if not paths:
        return upload_message((), (), ()), list_articles(qa)
    try:
        report = add_to_qa(qa, paths)
        message = upload_message(report.added, report.present, report.refused, report.summary)
    except (CorpusError, IndexLoadError) as error:
        message = f"<p>The index could not be rebuilt, so nothing was added: {escape_text(error)}</p>"
    except Exception:
        logger.exception("adding %s failed", paths)
        message = f"<p>{UNEXPECTED}</p>"
    return message, list_articles(qa)


def build_demo(qa: Asker) -> gr.Blocks:
    """Build the chat page and the `/answer` endpoint without launching them.

    Args:
        qa: anything with `.ask(str) -> Answer`, e.g. `qa.QA()`; uploads and the
            article list also need its `settings`, `index` and `reload()`.

    Returns:
        The Gradio app; call `.queue()` and `.launch(css=CSS)` on it to serve.
    """

    def on_message(message: str, history: list[dict[str, Any]], state: ConversationState | None):
        return chat(qa, message, history, state)

    def answer(question: str) -> dict:
        """Answer a question with one cited sentence from the corpus (the JSON of `Answer.to_dict()`)."""
        return respond(qa, question)

    # Analytics off: the page must not call out to the internet.
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{DESCRIPTION}")
        chatbot = gr.Chatbot(
            label=TITLE, elem_id="aluqa-chat", height="min(520px, 70vh)", feedback_options=None,
            buttons=["copy"],
            # Replies are already escaped HTML; the sanitizer stays on as a second guard,
            # and LaTeX is off so a "$" in a news sentence stays a dollar sign.
            sanitize_html=True, latex_delimiters=[],
        )
        # Per browser session: what the last question was about, for follow-ups.
        state = gr.State(None)
        with gr.Row():
            box = gr.Textbox(placeholder="Type a question, e.g. 2022年百色市铝产业总产值是多少？",
                             show_label=False, scale=8, min_width=200, autofocus=True, elem_id="aluqa-question")
            ask = gr.Button("Ask", variant="primary", scale=1, min_width=80)
            clear = gr.Button("Clear", scale=1, min_width=80, elem_id="aluqa-clear")
        gr.Markdown("**Examples** (click to ask):")
        with gr.Row():
            example_buttons = [gr.Button(text, size="sm", min_width=120) for text in EXAMPLES]
        with gr.Accordion("Add articles", open=False):
            gr.Markdown(f"Upload news articles as `.txt` or `.md` files (UTF-8, or GB18030/Big5; at most "
                        f"{MAX_ARTICLE_BYTES // 1_000_000} MB each). They are added to the corpus and the "
                        "index is rebuilt, so you can ask about them right away.")
            upload_button = gr.UploadButton("Upload articles (.txt, .md)", file_count="multiple",
                                            file_types=[".txt", ".md"], elem_id="aluqa-upload")
            upload_status = gr.HTML(elem_id="aluqa-upload-status")
        with gr.Accordion("Articles in the index", open=False):
            article_list = gr.HTML(elem_id="aluqa-articles")

        chat_io = ([box, chatbot, state], [box, chatbot, state])
        box.submit(on_message, *chat_io, api_name="chat")
        ask.click(on_message, *chat_io, api_visibility="private")
        for button in example_buttons:
            # A button's value is its label, so the example asks itself in one click.
            button.click(on_message, [button, chatbot, state], [box, chatbot, state], api_visibility="private")
        # Clearing also forgets the follow-up state.
        clear.click(lambda: ("", [], None), None, [box, chatbot, state], api_visibility="private")
        chatbot.clear(lambda: None, None, state, api_visibility="private")  # the chat's own bin icon
        upload_button.upload(lambda files: upload(qa, files), upload_button, [upload_status, article_list],
                             api_visibility="private")
        demo.load(lambda: list_articles(qa), None, article_list, api_visibility="private")
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
          qa: Asker | None = None, auth: tuple[str, str] | None = None, store: str | None = None) -> int:
    """Load the index, then serve the chat page until stopped (Ctrl+C).

    The page listens on loopback unless `host` says otherwise, and then a
    warning is printed; a Gradio share link is never made.

    Args:
        index_dir: the index folder (default: the index of `seeds/`, built if needed).
        host: address to listen on; anything but loopback exposes the page to the network.
        port: port to listen on.
        qa: an answerer to use instead of `QA(index_dir)`.
        store: "local" or "milvus:URI" (default: `ALUQA_STORE`, else local).
        auth: (user, password) that the page and its API then ask for (Gradio's login).

    Returns:
        0 once stopped, 3 when the index cannot be loaded, 1 when the port is taken,
        2 when `auth` is not a (user, password) pair of non-empty strings.
    """
    if auth is not None and not (isinstance(auth, tuple) and len(auth) == 2
                                 and all(isinstance(part, str) and part for part in auth)):
        print("aluqa serve: the login must be a non-empty user and password", file=sys.stderr)
        return 2
    qa = qa if qa is not None else QA(index_dir, settings=Settings().with_(store=store))
    try:
        # Load before listening: the first question is fast, and a bad index is
        # reported here rather than as an error on the page.
        if hasattr(qa, "warm_up"):
            qa.warm_up()
    except IndexLoadError as error:
        print(f"aluqa serve: {error}", file=sys.stderr)
        return 3
    if not _is_loopback(host):
        login = ("it asks for the --auth login, which travels unencrypted over plain HTTP" if auth
                 else "it has no login: add --auth-file FILE to ask for one")
        print(f"aluqa serve: warning: listening on {host}, so the page is reachable from the network "
              f"({login}); use --host 127.0.0.1 to keep it local.", file=sys.stderr)
    demo = build_demo(qa)
    # A few questions at once: answering is short and the model is shared.
    demo.queue(default_concurrency_limit=4)
    try:
        # share=False always: never a public gradio.live tunnel, whatever GRADIO_SHARE says.
        demo.launch(server_name=host, server_port=port, show_error=False, share=False, css=CSS, auth=auth)
    except OSError as error:
        print(f"aluqa serve: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    """Serve the default index on http://127.0.0.1:7860 (`python -m ui.app`)."""
    return serve()


if __name__ == "__main__":
    sys.exit(main())
