"""English messages of the page."""

MESSAGES = {
    # page
    "title": "AluQA",
    "description": (
        "Ask about the aluminium industry in China, in Chinese (简体/繁體) or English. "
        "The reply is one sentence quoted from a small corpus of Chinese news articles, with its source — "
        "or a plain statement that the corpus holds no answer. "
        "Follow-up questions such as 那电解铝占全国多少？ or 广元呢？ keep the place and year of the previous one."
    ),
    "language": "Language",
    "chat_label": "AluQA",
    "placeholder": "Type a question, e.g. 2022年百色市铝产业总产值是多少？",
    "ask": "Ask",
    "clear": "Clear",
    "examples": "**Examples** (click to ask):",
    "filter": "Limit by date and source",
    "filter_since": "From (YYYY, YYYY-MM or YYYY-MM-DD)",
    "filter_until": "To (included)",
    "filter_source": "Source (part of its name)",
    "comment_label": "Comment on an answer (optional)",
    "comment_placeholder": "The right sentence, or what is wrong; sent with your Like or Dislike",
    "verdict_saved": "Thank you: your verdict on “{question}” is saved.",
    "verdict_withdrawn": "Your verdict on “{question}” is withdrawn.",
    "verdict_failed": "The verdict could not be saved: {error}",
    "verdict_no_answer": "There is no answer at that place to judge.",
    # adding and removing articles
    "add_articles": "Add articles",
    "add_help": ("Upload news articles as `.txt`/`.md` (UTF-8, or GB18030/Big5), saved web pages (`.html`), PDFs with a text layer or Word files (`.docx`), at most {mb} MB each. "
                 "They are added to the corpus and the index is rebuilt, so you can ask about them right away."),
    "upload_button": "Upload articles (.txt, .md, .html, .pdf, .docx)",
    "articles_in_index": "Articles in the index",
    "remove_choice": "Article to remove",
    "remove_button": "Remove…",
    "remove_confirm": "Remove {doc} from the corpus? It will no longer be cited. The file is deleted.",
    "remove_yes": "Yes, remove it",
    "remove_cancel": "Cancel",
    "remove_pick_first": "Choose an article to remove first.",
    "removed": "Removed and no longer cited: {docs}.",
    "remove_refused": "Not removed — {message}.",
    "remove_failed": "The index could not be rebuilt, so nothing was removed: {error}",
    "added": "Added and indexed: {docs}. You can ask about them now.",
    "already_present": "Already in the corpus — {message}",
    "refused": "Refused — {message}. Nothing was written for this file.",
    "no_file": "No file was given.",
    "add_failed": "The index could not be rebuilt, so nothing was added: {error}",
    "list_unavailable": "The article list is not available: {error}",
    "no_articles": "The index holds no articles.",
    "article_count": "{count} articles in the index.",
    "article_count_one": "1 article in the index.",
    "col_title": "Title",
    "col_source": "Source",
    "col_date": "Date",
    "col_sentences": "Sentences",
    "col_file": "File",
    # replies
    "not_found": "The corpus holds no answer to this question.",
    "closest": "Closest material (not an answer)",
    "sources": "Sources",
    "passages": "{count} passages",
    "passages_one": "1 passage",
    "score": "score",
    "note": "Note: {note}",
    "understood_as": "Understood as: {question}",
    "unexpected": "Sorry, something went wrong while answering; the details are in the server log.",
    "index_error": "The index cannot be used: {error}",
    "error_empty": "The question is empty: type a question, e.g. {example}",
    "error_no_words": "The question has no words to search for: type a question in Chinese or English.",
    "error_only_number": "The question is only a number ({number}): say what you want to know about it, e.g. {example}",
    "note_cut": "the question was cut to its first {count} characters",
    "note_other_script": ("AluQA reads questions in Chinese or English and its articles are in Chinese; "
                          "this question is written in another script"),
}
