"""``@modelcontextprotocol/server-everything`` (npm, the server that exercises every feature of the
protocol) over stdio behind ``/mcp``, with the official SDK as the client.

What passes through: its tools (``everything__…``, with their schemas, annotations and every
kind of result: text, image, annotated, structured, embedded resource, resource link, a tool's
own ``isError``), its resources and templates (read through ``localrouter://everything/…``),
its prompts (with arguments, with an embedded resource), on the session-based revisions and the
stateless one. What does not, by design (docs/mcp.md, "Choices and limits"), must end in a clear
error rather than a hang: requests from the server to the client (sampling, elicitation, roots:
the gateway's own client announces none of them, so server-everything does not offer those
tools), tasks, completions, resource subscriptions and logging levels.

Without Node the module is skipped with the reason; with Node, a missing package fails with how
to install it (``npm ci --prefix tests/clients``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.gateway import Gateway, running_gateway
from tests.mcp_client import names, session, stateless, text
from tests.mcp_servers.run import everything_argv, everything_missing

pytestmark = [
    pytest.mark.skipif(everything_missing() is not None, reason=str(everything_missing())),
    pytest.mark.timeout(60),
]

PREFIX = "localrouter://everything/"
GATEWAY_ONLY = "LR_MCP_TEST_GATEWAY_ONLY"  # in the gateway's environment, not the child's
CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
strategies:
  agents:
    models: [mock/echo]
    mcp: {{servers: [everything]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: agents}}
mcp_servers:
  everything:
    transport: stdio
    command: {argv}
    env: {{EVERYTHING_FLAG: from-config}}
    connect_timeout_s: 30
    call_timeout_s: 10
"""
# what server-everything 2026.8.31 offers a client that announces no sampling, elicitation,
# roots or tasks capability (the gateway's own client)
TOOLS = {
    "echo",
    "get-annotated-message",
    "get-env",
    "get-resource-links",
    "get-resource-reference",
    "get-structured-content",
    "get-sum",
    "get-tiny-image",
    "gzip-file-as-resource",
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
    "trigger-long-running-operation",
}
NOT_LISTED = (
    # server-everything offers these only to clients that can answer its requests
    "trigger-sampling-request",
    "trigger-elicitation-request",
    "trigger-url-elicitation",
    "get-roots-list",
    # callable only as a task (execution.taskSupport: required): the gateway serves no tasks
    "simulate-research-query",
)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    argv = everything_argv()  # a missing npm package fails here, saying how to install it
    assert argv is not None
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv(GATEWAY_ONLY, "the-gateway-keeps-this")
        config = CONFIG.format(argv=json.dumps(argv))
        gw = stack.enter_context(running_gateway(config, tmp_path_factory.mktemp("everything")))
        deadline = time.monotonic() + 30
        while (state := health(gw)["everything"])["state"] != "ready":
            assert time.monotonic() < deadline, state
            time.sleep(0.05)
        yield gw


def health(gw: Gateway) -> dict[str, Any]:
    with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
        return json.loads(r.read())["mcp_servers"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def quick(bound: float = 3.0) -> Iterator[None]:
    """The block ends (with an answer or an error) within ``bound`` seconds: no hang."""
    started = time.monotonic()
    yield
    assert time.monotonic() - started < bound


async def test_its_tools_are_listed_with_their_schemas(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
    assert set(tools) == {f"everything__{t}" for t in TOOLS}
    # /health counts the tools as listed (the task-only one left out)
    assert health(gw)["everything"]["tools"] == len(TOOLS)
    echo = tools["everything__echo"]
    assert echo.input_schema["properties"]["message"]["type"] == "string"
    assert echo.input_schema["required"] == ["message"]
    assert echo.annotations is not None and echo.annotations.read_only_hint is True
    assert echo.description and "Echo" in echo.description
    weather = tools["everything__get-structured-content"]
    assert weather.output_schema is not None
    assert {"temperature", "conditions", "humidity"} <= set(weather.output_schema["properties"])
    assert weather.input_schema["properties"]["location"]["enum"] == [
        "New York",
        "Chicago",
        "Los Angeles",
    ]
    gzip = tools["everything__gzip-file-as-resource"]
    assert gzip.annotations is not None and gzip.annotations.open_world_hint is True


async def test_echo_and_every_kind_of_result_pass_through(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        echoed = await s.call_tool("everything__echo", {"message": "through the gateway"})
        assert text(echoed) == "Echo: through the gateway" and not echoed.is_error
        summed = await s.call_tool("everything__get-sum", {"a": 2, "b": 40})
        assert text(summed) == "The sum of 2 and 40 is 42."
        weather = await s.call_tool("everything__get-structured-content", {"location": "Chicago"})
        assert weather.structured_content is not None
        assert json.loads(text(weather)) == weather.structured_content
        image = await s.call_tool("everything__get-tiny-image", {})
        pngs = [c for c in image.content if isinstance(c, types.ImageContent)]
        assert len(pngs) == 1 and pngs[0].mime_type == "image/png"
        assert base64.b64decode(pngs[0].data).startswith(b"\x89PNG")
        annotated = await s.call_tool(
            "everything__get-annotated-message", {"messageType": "error", "includeImage": False}
        )
        first = annotated.content[0]
        assert first.annotations is not None and first.annotations.priority == 1.0
        embedded = await s.call_tool(
            "everything__get-resource-reference", {"resourceType": "Text", "resourceId": 2}
        )
        resources = [c for c in embedded.content if isinstance(c, types.EmbeddedResource)]
        assert len(resources) == 1 and "Resource 2" in resources[0].resource.text  # type: ignore[union-attr]
        links = await s.call_tool("everything__get-resource-links", {"count": 2})
        assert len([c for c in links.content if isinstance(c, types.ResourceLink)]) == 2
        # its own input validation: an isError result, passed on as it is
        wrong = await s.call_tool("everything__get-sum", {"a": "two"})
        assert wrong.is_error and "Invalid arguments for tool get-sum" in text(wrong)


async def test_resources_are_read_through_namespaced_uris(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        listed = {str(r.uri): r for r in (await s.list_resources()).resources}
        assert listed and all(uri.startswith(PREFIX + "demo://") for uri in listed)
        doc = PREFIX + "demo://resource/static/document/features.md"
        assert listed[doc].mime_type == "text/markdown"
        read = await s.read_resource(doc)
        assert str(read.contents[0].uri) == doc
        assert read.contents[0].text.startswith("# Everything Server - Features")  # type: ignore[union-attr]
        templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
        assert templates == {
            PREFIX + "demo://resource/dynamic/text/{resourceId}",
            PREFIX + "demo://resource/dynamic/blob/{resourceId}",
        }
        dynamic = await s.read_resource(PREFIX + "demo://resource/dynamic/text/3")
        assert dynamic.contents[0].text.startswith("Resource 3:")  # type: ignore[union-attr]
        blob = await s.read_resource(PREFIX + "demo://resource/dynamic/blob/3")
        data = base64.b64decode(blob.contents[0].blob)  # type: ignore[union-attr]
        assert data.startswith(b"Resource 3:")
        assert str(blob.contents[0].uri) == PREFIX + "demo://resource/dynamic/blob/3"
        with quick(), pytest.raises(MCPError) as unknown:
            await s.read_resource("demo://resource/dynamic/text/3")  # the upstream's own URI
        assert "unknown resource" in str(unknown.value)


async def test_prompts_are_fetched_with_their_arguments(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        prompts = {p.name: p for p in (await s.list_prompts()).prompts}
        assert {
            "everything__simple-prompt",
            "everything__args-prompt",
            "everything__completable-prompt",
            "everything__resource-prompt",
        } <= set(prompts)
        arguments = prompts["everything__args-prompt"].arguments or []
        assert [(a.name, a.required) for a in arguments] == [("city", True), ("state", False)]
        simple = await s.get_prompt("everything__simple-prompt", {})
        assert simple.messages[0].content.text == "This is a simple prompt without arguments."  # type: ignore[union-attr]
        args = await s.get_prompt("everything__args-prompt", {"city": "Lyon", "state": "FR"})
        assert args.messages[0].content.text == "What's weather in Lyon, FR?"  # type: ignore[union-attr]
        with_resource = await s.get_prompt(
            "everything__resource-prompt", {"resourceType": "Text", "resourceId": "2"}
        )
        kinds = [type(m.content) for m in with_resource.messages]
        assert kinds == [types.TextContent, types.EmbeddedResource]
        with quick(), pytest.raises(MCPError) as missing:
            await s.get_prompt("everything__args-prompt", {})  # city is required
        assert "MCP server 'everything':" in str(missing.value)


async def test_a_long_running_operation_completes(gw: Gateway) -> None:
    """Its progress notifications are not relayed (docs/mcp.md); the call itself completes."""
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with session(gw.url, gw.keys["app"]) as s:
        with quick(6):
            done = await s.call_tool(
                "everything__trigger-long-running-operation",
                {"duration": 1, "steps": 2},
                progress_callback=on_progress,
            )
    assert "Long running operation completed" in text(done) and not done.is_error


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # on purpose
async def test_what_is_not_relayed_fails_clearly_and_quickly(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        caps = s.server_capabilities
        assert caps is not None
        assert caps.completions is None and caps.logging is None and caps.tasks is None
        assert caps.resources is not None and not caps.resources.subscribe
        listed = names(await s.list_tools())
        for tool in NOT_LISTED:
            assert f"everything__{tool}" not in listed
            with quick(), pytest.raises(MCPError) as unknown:
                await s.call_tool(f"everything__{tool}", {"prompt": "hi", "maxTokens": 5})
            assert f"unknown tool 'everything__{tool}'" in str(unknown.value)
            assert "server 'everything' offers no such tool" in str(unknown.value)
        ref = types.PromptReference(type="ref/prompt", name="everything__completable-prompt")
        for request in (
            s.complete(ref, {"name": "department", "value": "E"}),
            s.subscribe_resource(PREFIX + "demo://resource/dynamic/text/1"),
            s.set_logging_level("debug"),
        ):
            with quick(), pytest.raises(MCPError) as not_served:
                await request
            assert not_served.value.error.code == types.METHOD_NOT_FOUND
        await s.send_ping()  # and the session is fine
        assert text(await s.call_tool("everything__echo", {"message": "after"})) == "Echo: after"


async def test_the_child_gets_its_env_and_not_the_gateways(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        env = json.loads(text(await s.call_tool("everything__get-env", {})))
    assert env["EVERYTHING_FLAG"] == "from-config"
    assert GATEWAY_ONLY not in env
    assert "PATH" in env


async def test_the_stateless_revision_reaches_it_too(gw: Gateway) -> None:
    async with stateless(gw.url, gw.keys["app"]) as c:
        assert "everything__echo" in names(await c.list_tools())
        echoed = await c.call_tool("everything__echo", {"message": "stateless"})
        assert text(echoed) == "Echo: stateless"
        read = await c.read_resource(PREFIX + "demo://resource/dynamic/text/5")
        assert read.contents[0].text.startswith("Resource 5:")  # type: ignore[union-attr]
        simple = await c.get_prompt("everything__simple-prompt", {})
        assert simple.messages[0].content.text.startswith("This is a simple prompt")  # type: ignore[union-attr]


async def test_resources_in_a_result_can_be_read_through_the_gateway(gw: Gateway) -> None:
    """A resource link's and an embedded resource's URI in a tool result are made public."""
    async with session(gw.url, gw.keys["app"]) as s:
        result = await s.call_tool("everything__get-resource-links", {"count": 2})
        links = [c for c in result.content if isinstance(c, types.ResourceLink)]
        assert len(links) == 2
        for link in links:
            assert str(link.uri).startswith(PREFIX + "demo://resource/dynamic/")
            read = await s.read_resource(str(link.uri))
            assert str(read.contents[0].uri) == str(link.uri)
        result = await s.call_tool(
            "everything__get-resource-reference", {"resourceType": "Text", "resourceId": 4}
        )
        embedded = [c for c in result.content if isinstance(c, types.EmbeddedResource)]
        assert str(embedded[0].resource.uri) == PREFIX + "demo://resource/dynamic/text/4"
        read = await s.read_resource(str(embedded[0].resource.uri))
        assert read.contents[0].text.startswith("Resource 4:")  # type: ignore[union-attr]


async def test_a_resource_embedded_in_a_prompt_can_be_read_through_the_gateway(
    gw: Gateway,
) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        prompt = await s.get_prompt(
            "everything__resource-prompt", {"resourceType": "Text", "resourceId": "4"}
        )
        embedded = [
            m.content for m in prompt.messages if isinstance(m.content, types.EmbeddedResource)
        ]
        assert len(embedded) == 1
        uri = str(embedded[0].resource.uri)
        assert uri == PREFIX + "demo://resource/dynamic/text/4"
        read = await s.read_resource(uri)
        assert read.contents[0].text.startswith("Resource 4:")  # type: ignore[union-attr]


async def test_a_task_only_tool_is_not_listed_without_tasks(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        caps = s.server_capabilities
        tools = (await s.list_tools()).tools
    assert caps is not None and caps.tasks is None
    required = [t.name for t in tools if t.execution and t.execution.task_support == "required"]
    assert required == []
