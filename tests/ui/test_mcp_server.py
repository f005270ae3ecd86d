"""`aluqa mcp`: the official `mcp` SDK's stdio client starts it, lists its tools and calls them."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

from conftest import ROOT

FIRST, FOLLOW_UP = "2022年百色市铝产业总产值是多少？", "广元呢？"


async def _session_calls(calls):
    """Start `aluqa mcp` as an agent does, then make each (tool, arguments) call; returns the tool names and results."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    parameters = StdioServerParameters(command=sys.executable, args=["-m", "qa", "mcp"], cwd=str(ROOT))
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return [tool.name for tool in tools.tools], results


@pytest.mark.slow
def test_an_mcp_client_lists_the_tools_and_asks(real_qa):
    names, (first, follow_up, empty, articles) = anyio.run(_session_calls, [
        ("ask", {"question": FIRST}),
        ("ask", {"question": FOLLOW_UP, "history": [FIRST]}),
        ("ask", {"question": "   "}),
        ("list_articles", {}),
    ])
    assert set(names) == {"ask", "list_articles"}

    expected = json.loads(json.dumps(real_qa.ask(FIRST).to_dict(), ensure_ascii=False))
    assert not first.is_error and first.structured_content == expected
    assert "**" in first.content[0].text and "1045" in first.content[0].text

    resolved = follow_up.structured_content["question"]
    assert resolved == "2022年广元市铝产业总产值是多少？" and follow_up.structured_content["typed"] == FOLLOW_UP
    expected = json.loads(json.dumps(real_qa.ask(resolved).to_dict(), ensure_ascii=False))
    assert {**follow_up.structured_content, "typed": ""} == expected

    assert empty.is_error and "empty" in empty.content[0].text
    docs = {entry["doc"] for entry in articles.structured_content["articles"]}
    assert docs == {path.name for path in (ROOT / "seeds").iterdir() if path.suffix in (".txt", ".md")}
