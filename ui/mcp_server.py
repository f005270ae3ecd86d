"""`aluqa mcp`: AluQA as a Model Context Protocol server over stdio, for agents and desktop chat apps.

Two tools, on the official `mcp` SDK:

- `ask(question, history=[])`: one cited sentence from the corpus, or "not
  found". `history` holds the conversation's earlier user questions (oldest
  first), so a follow-up ("广元呢？") is resolved as `qa.Conversation` would.
  The result's text is the Markdown a chat client shows; its structured
  content is the answer's JSON, the object `aluqa ask --json` prints.
- `list_articles()`: the articles of the corpus and whether they are indexed.

stdout carries the protocol, so nothing else may print there: logs go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent

from embeddings.store.manifest import IndexLoadError
from qa.api import QA, QuestionError
from qa.conversation import ask_with_history
from qa.settings import Settings
from ui.render import reply_language, reply_markdown

INSTRUCTIONS = ("AluQA answers questions on Chinese news about the aluminium industry (in simplified or "
                "traditional Chinese or in English) with one sentence quoted from its articles and a citation, "
                "or says the corpus holds no answer. Pass the user's earlier questions as `history` so that "
                "follow-ups such as 'what about 2021?' are understood.")


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def build_mcp_server(qa: QA) -> MCPServer:
    """The MCP server with the `ask` and `list_articles` tools answering through `qa`."""
    server = MCPServer(name="aluqa", title="AluQA", instructions=INSTRUCTIONS)

    @server.tool(description="Answer a question with one cited sentence from the news corpus, or 'not found'. "
                             "history: the user's earlier questions in this conversation, oldest first. "
                             "since, until (YYYY, YYYY-MM or YYYY-MM-DD) and source: search only the articles "
                             "dated in that range, or whose source holds that name.")
    def ask(question: str, history: list[str] | None = None, since: str = "", until: str = "",
            source: str = "") -> CallToolResult:
        try:
            answer = ask_with_history(qa, question, history or [], since=since, until=until, source=source)
        except QuestionError as error:
            return _error(f"the question cannot be asked: {error}")
        except IndexLoadError as error:
            return _error(f"the index cannot be loaded: {error}")
        data = answer.to_dict()
        text = reply_markdown(data, reply_language(answer.typed or answer.question))
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)

    @server.tool(description="List the articles of the corpus: file, title, source, date, sentences, indexed.")
    def list_articles() -> CallToolResult:
        from embeddings.corpus.catalogue import list_corpus

        try:
            entries = [asdict(entry) for entry in list_corpus(qa.settings.corpus_dir, qa.settings.index_dir,
                                                              store=qa.settings.store)]
        except IndexLoadError as error:
            return _error(f"the index cannot be loaded: {error}")
        return CallToolResult(content=[TextContent(type="text", text=json.dumps(entries, ensure_ascii=False))],
                              structured_content={"articles": entries})

    return server


def run_stdio(index_dir: Path | str | None = None, store: str | None = None) -> int:
    """Load the index, then serve the tools over stdin/stdout until the client closes them.

    Returns:
        0 when the client is done, 3 when the index cannot be loaded.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    qa = QA(index_dir, settings=Settings().with_(store=store), watch_index=True)
    try:
        # Before the first request: a bad index is reported at start, not per call. Whatever
        # loading prints goes to stderr: stdout belongs to the protocol.
        with contextlib.redirect_stdout(sys.stderr):
            qa.warm_up()
    except IndexLoadError as error:
        print(f"aluqa mcp: {error}", file=sys.stderr)
        return 3
    build_mcp_server(qa).run("stdio")
    return 0
