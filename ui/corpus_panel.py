"""The page's corpus part: upload articles, list them, remove one after a confirmation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from embeddings.text.read import CorpusError
from embeddings.corpus.lock import BuildBusyError
from embeddings.store.manifest import IndexLoadError
from ui.i18n import DEFAULT_LANGUAGE, t
from ui.render import articles_table, escape_text, remove_message, upload_message

logger = logging.getLogger(__name__)


def _entries(qa: Any) -> list:
    from embeddings.corpus.catalogue import index_entries

    return index_entries(getattr(qa, "index"))


def list_articles(qa: Any, lang: str = DEFAULT_LANGUAGE) -> str:
    """The articles of the QA's index as an HTML table (a note when it cannot be read)."""
    try:
        entries = _entries(qa)
    except (AttributeError, IndexLoadError, CorpusError) as error:
        return f"<p>{escape_text(t(lang, 'list_unavailable', error=error))}</p>"
    return articles_table([{"title": e.title, "source": e.source, "date": e.date, "doc": e.doc,
                            "sentences": e.sentences} for e in entries], lang)


def article_names(qa: Any) -> list[str]:
    """The file names of the indexed articles ([] when the index cannot be read)."""
    try:
        return [e.doc for e in _entries(qa)]
    except (AttributeError, IndexLoadError, CorpusError):
        return []


def upload(qa: Any, files: list[str] | str | None, lang: str = DEFAULT_LANGUAGE,
           on_stage: Callable[[str], None] | None = None) -> tuple[str, str]:
    """Add uploaded article files to the QA's corpus and index; they are answerable at once.

    Args:
        qa: a `qa.QA` (its corpus and index folders are used).
        files: paths of the uploaded copies (Gradio keeps the original file names).
        lang: the page language of the message.
        on_stage: called with a label as each stage of the rebuild starts (the page's progress).

    Returns:
        A message naming each file and what happened to it, and the refreshed article list.
    """
    from ui.articles import add_to_qa

    paths = [files] if isinstance(files, str) else list(files or [])
    if not paths:
        return upload_message((), (), (), lang=lang), list_articles(qa, lang)

    def add():
        report = add_to_qa(qa, paths, on_stage=on_stage)
        return upload_message(report.added, report.present, report.refused, report.summary, lang)

    return _change_corpus(qa, add, "add_failed", f"adding {paths}", lang)


def remove(qa: Any, doc: str | None, lang: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """Remove one article (by file name) from the QA's corpus and index.

    Returns:
        A message saying what happened, and the refreshed article list.
    """
    from ui.articles import remove_from_qa

    if not doc:
        return f"<p>{t(lang, 'remove_pick_first')}</p>", list_articles(qa, lang)

    def remove_one():
        report = remove_from_qa(qa, [doc])
        return remove_message(report.removed, report.refused, report.summary, lang)

    return _change_corpus(qa, remove_one, "remove_failed", f"removing {doc}", lang)


def _change_corpus(qa: Any, change, failed_key: str, what: str, lang: str) -> tuple[str, str]:
    """Run `change() -> message`; a corpus or index error becomes the `failed_key` message, anything
    else is logged and shown as unexpected. Returns the message and the refreshed article list."""
    try:
        message = change()
    except (CorpusError, IndexLoadError, BuildBusyError) as error:
        message = f"<p>{escape_text(t(lang, failed_key, error=error))}</p>"
    except Exception:
        logger.exception("%s failed", what)
        message = f"<p>{t(lang, 'unexpected')}</p>"
    return message, list_articles(qa, lang)


@dataclass
class CorpusPanel:
    """The components other parts of the page update when the language or the corpus changes."""

    fixed: list[Any]  # labels only
    refreshed: list[Any]  # the article list, the choice of article to remove, the confirmation text
    pending: Any  # the article chosen for removal
    relabel: Callable[[str], list]
    refresh: Callable[..., list]


def corpus_panel(qa: Any, i18n: gr.I18n, lang_state: Any) -> CorpusPanel:
    """Lay out the upload and article-list parts of the page (inside a `gr.Blocks`) and wire them."""
    from embeddings.text.read import ARTICLE_SUFFIXES, MAX_ARTICLE_BYTES

    with gr.Accordion(i18n("add_articles"), open=False) as add_part:
        add_help = gr.Markdown(i18n("add_help"))
        upload_button = gr.UploadButton(i18n("upload_button"), file_count="multiple", file_types=list(ARTICLE_SUFFIXES),
                                        elem_id="aluqa-upload")
        upload_status = gr.HTML(elem_id="aluqa-upload-status")
    with gr.Accordion(i18n("articles_in_index"), open=False) as list_part:
        article_list = gr.HTML(elem_id="aluqa-articles")
        with gr.Row():
            choice = gr.Dropdown([], value=None, label=i18n("remove_choice"), elem_id="aluqa-remove-choice",
                                 scale=4)
            remove_button = gr.Button(i18n("remove_button"), variant="stop", scale=1, elem_id="aluqa-remove")
        with gr.Column(visible=False, elem_id="aluqa-remove-confirm") as confirm_part:
            confirm_text = gr.HTML()
            with gr.Row():
                yes = gr.Button(i18n("remove_yes"), variant="stop", elem_id="aluqa-remove-yes")
                cancel = gr.Button(i18n("remove_cancel"), elem_id="aluqa-remove-cancel")
        remove_status = gr.HTML(elem_id="aluqa-remove-status")

    def confirmation(lang: str, doc: str | None) -> str:
        return f"<p>{t(lang, 'remove_confirm', doc=f'<code>{escape_text(doc)}</code>')}</p>" if doc else ""

    def relabel(lang: str) -> list:
        return [gr.update(label=t(lang, "add_articles")),
                gr.update(value=t(lang, "add_help", mb=MAX_ARTICLE_BYTES // 1_000_000)),
                gr.update(label=t(lang, "upload_button")), gr.update(label=t(lang, "articles_in_index")),
                gr.update(value=t(lang, "remove_button")), gr.update(value=t(lang, "remove_yes")),
                gr.update(value=t(lang, "remove_cancel"))]

    def refresh(lang: str, pending: str | None = None) -> list:
        names = article_names(qa)
        pending = pending if pending in names else None
        return [list_articles(qa, lang), gr.update(label=t(lang, "remove_choice"), choices=names, value=pending),
                confirmation(lang, pending)]

    def on_upload(files, lang, progress=gr.Progress()):
        lang = lang or DEFAULT_LANGUAGE
        # The rebuild's stages (reading, embedding N texts, writing) show on the status while it runs;
        # questions are answered meanwhile from the index already loaded.
        message, _ = upload(qa, files, lang, on_stage=lambda label: progress(None, desc=label))
        return [message, *refresh(lang)[:2]]

    def on_remove_asked(doc, lang):
        lang = lang or DEFAULT_LANGUAGE
        if not doc:
            return gr.update(visible=False), "", f"<p>{t(lang, 'remove_pick_first')}</p>"
        return gr.update(visible=True), confirmation(lang, doc), ""

    def on_remove_confirmed(doc, lang):
        lang = lang or DEFAULT_LANGUAGE
        message, _ = remove(qa, doc, lang)
        return [gr.update(visible=False), message, *refresh(lang)[:2]]

    upload_button.upload(on_upload, [upload_button, lang_state], [upload_status, article_list, choice],
                         api_visibility="private")
    remove_button.click(on_remove_asked, [choice, lang_state], [confirm_part, confirm_text, remove_status],
                        api_visibility="private")
    yes.click(on_remove_confirmed, [choice, lang_state], [confirm_part, remove_status, article_list, choice],
              api_visibility="private")
    cancel.click(lambda: gr.update(visible=False), None, confirm_part, api_visibility="private")
    # Another choice withdraws a confirmation shown for the previous one.
    choice.input(lambda: gr.update(visible=False), None, confirm_part, api_visibility="private")
    return CorpusPanel(fixed=[add_part, add_help, upload_button, list_part, remove_button, yes, cancel],
                       refreshed=[article_list, choice, confirm_text], pending=choice,
                       relabel=relabel, refresh=refresh)
