"""The AluQA chat page and its JSON endpoint `/answer` (Gradio); `ui.server` serves it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import gradio as gr

from embeddings.text.read import MAX_ARTICLE_BYTES
from qa.conversation import ConversationState
from ui.chat import Asker, Turn, answer_turn, chat, render_history, respond
from ui.corpus_panel import corpus_panel, list_articles, remove, upload
from ui.i18n import DEFAULT_LANGUAGE, GRADIO_LOCALES, LANGUAGES, catalogue, request_language, t
from ui.verdicts import record_verdict

__all__ = ["CSS", "EXAMPLES", "I18N", "build_demo", "chat", "list_articles", "remove", "respond", "upload"]

logger = logging.getLogger(__name__)

TITLE = "AluQA"
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


def static_texts(lang: str) -> dict[str, str]:
    """The fixed texts of the page in `lang`, by key, ready to show (no fields left to fill)."""
    texts = dict(catalogue(lang))
    texts["header"] = f"# {TITLE}\n{texts['description']}"
    texts["add_help"] = t(lang, "add_help", mb=MAX_ARTICLE_BYTES // 1_000_000)
    return texts


# The texts the page is built with. Gradio's front-end shows them on first paint in
# the browser's locale where it has one (zh-CN, zh-TW, en); the page's load event
# then sets the language the server chose (zh-HK and bare zh too), and the switch
# changes it.
STATIC_KEYS = ("header", "language", "chat_label", "placeholder", "ask", "clear", "comment_label",
               "comment_placeholder", "filter", "filter_since", "filter_until", "filter_source", "examples", "add_articles", "add_help", "upload_button",
               "articles_in_index", "remove_choice", "remove_button", "remove_yes", "remove_cancel")
I18N = gr.I18n(**{locale: {key: static_texts(lang)[key] for key in STATIC_KEYS}
                  for locale, lang in GRADIO_LOCALES.items()})


def build_demo(qa: Asker, feedback_file: Path | str | None = None) -> gr.Blocks:
    """Build the chat page and the `/answer` endpoint without launching them.

    Args:
        qa: anything with `.ask(str) -> Answer`, e.g. `qa.QA()`; uploads, removals and the
            article list also need its `settings`, `index` and `reload()`.
        feedback_file: where verdicts are appended (default: beside the QA's index).

    Returns:
        The Gradio app; call `.queue()` and `.launch(css=CSS, i18n=I18N)` on it to serve.
    """
    if feedback_file is None and getattr(qa, "settings", None) is not None:
        from qa.training.feedback import feedback_path

        feedback_file = feedback_path(qa.settings.index_dir)

    def on_message(message: str, history: list, state: ConversationState | None, turns: list[Turn] | None,
                   lang: str | None, since: str = "", until: str = "", source: str = "",
                   request: gr.Request = None):
        """Ask a question of the conversation; the history shown is re-rendered from the kept turns."""
        lang = lang or request_language(request)
        turn, state = answer_turn(qa, message, state, since=since, until=until, source=source)
        turns = [*(turns or []), turn]
        return "", render_history(turns, lang), state, turns

    def answer(question: str) -> dict:
        """Answer a question with one cited sentence from the corpus (the JSON of `Answer.to_dict()`)."""
        return respond(qa, question)

    def answer_within(question: str, since: str, until: str, source: str) -> dict:
        """`answer`, searching only the articles dated from `since` to `until` (YYYY, YYYY-MM or
        YYYY-MM-DD; "" for no bound) whose source holds `source` ("" for any)."""
        return respond(qa, question, since=since, until=until, source=source)

    i18n = I18N
    # Analytics off: the page must not call out to the internet.
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        lang_state = gr.State(None)
        header = gr.Markdown(i18n("header"))
        switch = gr.Radio([(name, code) for code, (name, _) in LANGUAGES.items()], value=None,
                          label=i18n("language"), elem_id="aluqa-language", container=False)
        chatbot = gr.Chatbot(
            label=i18n("chat_label"), elem_id="aluqa-chat", height="min(520px, 70vh)",
            feedback_options=("Like", "Dislike"), buttons=["copy"],
            # Replies are already escaped HTML; the sanitizer stays on as a second guard,
            # and LaTeX is off so a "$" in a news sentence stays a dollar sign.
            sanitize_html=True, latex_delimiters=[],
        )
        verdict_status = gr.HTML(elem_id="aluqa-verdict-status")
        # Per browser session: what the last question was about (follow-ups), and every turn.
        state, turns = gr.State(None), gr.State([])
        with gr.Row():
            box = gr.Textbox(placeholder=i18n("placeholder"), show_label=False, scale=8, min_width=200,
                             autofocus=True, elem_id="aluqa-question")
            ask = gr.Button(i18n("ask"), variant="primary", scale=1, min_width=80, elem_id="aluqa-ask")
            clear = gr.Button(i18n("clear"), scale=1, min_width=80, elem_id="aluqa-clear")
        with gr.Accordion(i18n("filter"), open=False, elem_id="aluqa-filter") as filter_part:
            with gr.Row():
                since = gr.Textbox("", label=i18n("filter_since"), max_lines=1, elem_id="aluqa-since")
                until = gr.Textbox("", label=i18n("filter_until"), max_lines=1, elem_id="aluqa-until")
                source = gr.Textbox("", label=i18n("filter_source"), max_lines=1, elem_id="aluqa-source")
        comment = gr.Textbox(label=i18n("comment_label"), placeholder=i18n("comment_placeholder"), lines=1,
                             elem_id="aluqa-comment")
        examples_title = gr.Markdown(i18n("examples"))
        with gr.Row():
            # Example questions are questions: shown and asked as written, never translated.
            example_buttons = [gr.Button(text, size="sm", min_width=120) for text in EXAMPLES]
        panel = corpus_panel(qa, i18n, lang_state)

        filters = [since, until, source]
        chat_io = ([box, chatbot, state, turns, lang_state, *filters], [box, chatbot, state, turns])
        box.submit(on_message, *chat_io, api_name="chat")
        ask.click(on_message, *chat_io, api_visibility="private")
        for button in example_buttons:
            # A button's value is its label, so the example asks itself in one click.
            button.click(on_message, [button, chatbot, state, turns, lang_state, *filters], chat_io[1],
                         api_visibility="private")
        # Clearing also forgets the follow-up state and the turns.
        clear.click(lambda: ("", [], None, [], ""), None, [box, chatbot, state, turns, verdict_status],
                    api_visibility="private")
        chatbot.clear(lambda: (None, []), None, [state, turns], api_visibility="private")  # the bin icon

        def on_like(data: gr.LikeData, kept: list[Turn] | None, typed: str, lang: str | None):
            return record_verdict(qa, feedback_file, kept or [], data.index, data.liked, typed,
                                  lang or DEFAULT_LANGUAGE)

        chatbot.like(on_like, [turns, comment, lang_state], [verdict_status, comment], api_visibility="private")

        fixed = [header, chatbot, box, ask, clear, comment, filter_part, since, until, source, examples_title,
                 *panel.fixed]

        def relabel(lang: str, kept: list[Turn]) -> list:
            texts = static_texts(lang)
            # In the order of `fixed`; the chat is rendered again from its turns.
            return [gr.update(value=texts["header"]),
                    gr.update(label=texts["chat_label"], value=render_history(kept, lang)),
                    gr.update(placeholder=texts["placeholder"]), gr.update(value=texts["ask"]),
                    gr.update(value=texts["clear"]),
                    gr.update(label=texts["comment_label"], placeholder=texts["comment_placeholder"]),
                    gr.update(label=texts["filter"]), gr.update(label=texts["filter_since"]),
                    gr.update(label=texts["filter_until"]), gr.update(label=texts["filter_source"]),
                    gr.update(value=texts["examples"]), *panel.relabel(lang)]

        def on_load(request: gr.Request):
            lang = request_language(request)
            return [lang, gr.update(value=lang, label=t(lang, "language")), *relabel(lang, []),
                    *panel.refresh(lang)]

        def on_switch(lang: str, kept: list[Turn] | None, pending: str | None):
            # The conversation stays: its turns are rendered again with the new labels.
            return [lang, gr.update(label=t(lang, "language")), *relabel(lang, kept or []),
                    *panel.refresh(lang, pending)]

        demo.load(on_load, None, [lang_state, switch, *fixed, *panel.refreshed], api_visibility="private")
        switch.input(on_switch, [switch, turns, panel.pending], [lang_state, switch, *fixed, *panel.refreshed],
                     api_visibility="private")
        gr.api(answer, api_name="answer")
        gr.api(answer_within, api_name="answer_within")
    return demo


def main() -> int:
    """Serve the default index on http://127.0.0.1:7860 (`python -m ui.app`)."""
    from ui.server import serve

    return serve()


if __name__ == "__main__":
    sys.exit(main())
