"""Peers on the same chat workload, run in the benchmark's own environment (benchmarks/.venv).

Run by ``run.py`` as ``benchmarks/.venv/bin/python benchmarks/peers.py --n 1000 ...``; prints one
JSON document on stdout. Never imported by asgi_translate or its tests.

Rows (all chat upstream bytes in, client SSE bytes out, unless the name says otherwise):

* ``openai-agents`` (chat -> responses): the OpenAI SDK's ``AsyncStream`` parses the upstream
  bytes into ``ChatCompletionChunk`` models, exactly as in ``OpenAIChatCompletionsModel``;
  ``ChatCmplStreamHandler.handle_stream`` turns them into Responses events, which are framed
  with ``model_dump_json`` as a server would.
* ``litellm.anthropic`` (chat -> messages): ``litellm.acompletion`` over a mocked OpenAI client
  (its whole per-chunk path: SDK parsing, ``CustomStreamWrapper``), then
  ``AnthropicStreamWrapper.async_anthropic_sse_wrapper`` -- what LiteLLM's ``/v1/messages``
  does for a chat-only model.
* ``*.objects_in``: the translator alone, fed the chunk objects its library already parsed
  (``ChatCompletionChunk`` for openai-agents, ``ModelResponseStream`` for LiteLLM), deep-copied
  outside the timing. This is the peers' best case; ours is always measured from bytes.
* ``litellm.responses`` (chat -> responses): ``litellm.acompletion`` as above, then the
  Responses bridge ``LiteLLMCompletionStreamingIterator``, events framed with ``model_dump_json``.
"""

# mypy: disable-error-code="import-not-found,arg-type,no-any-return,unused-ignore"
# (the peers' libraries live in benchmarks/.venv, not in the environment mypy checks against)
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import metadata
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
os.environ.setdefault("LITELLM_LOG", "ERROR")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workload

URL = "http://bench.invalid/v1"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _mock_client(frames: list[bytes]) -> Any:
    """An AsyncOpenAI client whose HTTP transport answers every request with ``frames``."""
    import httpx
    from openai import AsyncOpenAI

    async def handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for frame in frames:
                yield frame

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AsyncOpenAI(api_key="bench", base_url=URL, http_client=http, max_retries=0)


def _frame(event: Any) -> bytes:
    return b"event: " + event.type.encode() + b"\ndata: " + event.model_dump_json().encode() + b"\n\n"


# ------------------------------------------------------------------------------------------
# openai-agents


def _agents_response() -> Any:
    from agents.models.fake_id import FAKE_RESPONSES_ID
    from openai.types.responses import Response

    return Response(
        id=FAKE_RESPONSES_ID,
        created_at=time.time(),
        model="gpt-bench",
        object="response",
        output=[],
        tool_choice="auto",
        top_p=None,
        temperature=None,
        tools=[],
        parallel_tool_calls=False,
        reasoning=None,
    )


def _sdk_stream(frames: list[bytes], client: Any) -> tuple[Any, Any]:
    """The OpenAI SDK's own ``AsyncStream[ChatCompletionChunk]`` over ``frames``."""
    import httpx
    from openai import AsyncStream
    from openai.types.chat import ChatCompletionChunk

    async def body() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame

    http_response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=body(),
        request=httpx.Request("POST", URL + "/chat/completions"),
    )
    return AsyncStream(cast_to=ChatCompletionChunk, response=http_response, client=client), http_response


async def _agents_translate(chunks: Any) -> int:
    from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler

    total = 0
    async for event in ChatCmplStreamHandler.handle_stream(_agents_response(), chunks, model="gpt-bench"):
        total += len(_frame(event))
    return total


def agents_runner(frames: list[bytes]) -> Callable[[], Awaitable[int]]:
    client = _mock_client(frames)

    async def run() -> int:
        stream, http_response = _sdk_stream(frames, client)
        try:
            return await _agents_translate(stream)
        finally:
            await http_response.aclose()

    return run


async def agents_objects(frames: list[bytes]) -> list[Any]:
    """``ChatCompletionChunk`` models parsed by the SDK once (untimed)."""
    stream, http_response = _sdk_stream(frames, _mock_client(frames))
    chunks = [chunk async for chunk in stream]
    await http_response.aclose()
    return chunks


def objects_runner(
    objects: list[Any], translate: Callable[[Any], Awaitable[int]]
) -> tuple[Callable[[], Any], Callable[[Any], Awaitable[int]]]:
    """Feed fresh deep copies of pre-parsed chunk objects (copied outside the timing)."""

    def setup() -> list[Any]:
        return [o.model_copy(deep=True) for o in objects]

    async def run(copies: list[Any]) -> int:
        async def stream() -> AsyncIterator[Any]:
            for chunk in copies:
                yield chunk

        return await translate(stream())

    return setup, run


# ------------------------------------------------------------------------------------------
# LiteLLM


def _litellm_stream(frames: list[bytes]) -> Callable[[], Awaitable[Any]]:
    """A coroutine factory returning LiteLLM's CustomStreamWrapper over ``frames``."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    client = _mock_client(frames)

    async def start() -> Any:
        return await litellm.acompletion(
            model="openai/gpt-bench",
            messages=[{"role": "user", "content": "What is the weather?"}],
            tools=[{"type": "function", "function": {"name": workload.TOOL_NAME, "parameters": {"type": "object"}}}],
            stream=True,
            stream_options={"include_usage": True},
            client=client,
        )

    return start


def litellm_anthropic_runner(frames: list[bytes]) -> Callable[[], Awaitable[int]]:
    start = _litellm_stream(frames)

    async def run() -> int:
        return await _litellm_anthropic_translate(await start())

    return run


async def litellm_objects(frames: list[bytes]) -> list[Any]:
    """The ModelResponseStream objects LiteLLM makes of ``frames`` (parsed once, untimed)."""
    stream = await _litellm_stream(frames)()
    return [chunk async for chunk in stream]


async def _litellm_anthropic_translate(chunks: Any) -> int:
    from litellm.llms.anthropic.pass_through.adapters.streaming_iterator import AnthropicStreamWrapper

    wrapper = AnthropicStreamWrapper(completion_stream=chunks, model="claude-bench")
    total = 0
    async for chunk in wrapper.async_anthropic_sse_wrapper():
        total += len(chunk)
    return total


def litellm_responses_runner(frames: list[bytes]) -> Callable[[], Awaitable[int]]:
    from litellm.responses.litellm_completion_transformation.streaming_iterator import (
        LiteLLMCompletionStreamingIterator,
    )

    start = _litellm_stream(frames)
    tools = [{"type": "function", "name": workload.TOOL_NAME, "parameters": {"type": "object"}}]

    async def run() -> int:
        iterator = LiteLLMCompletionStreamingIterator(
            model="openai/gpt-bench",
            litellm_custom_stream_wrapper=await start(),
            request_input="What is the weather?",
            responses_api_request={"tools": tools},  # type: ignore[typeddict-item]
            custom_llm_provider="openai",
        )
        total = 0
        async for event in iterator:
            total += len(_frame(event))
        return total

    return run


# ------------------------------------------------------------------------------------------


def timed_async(
    loop: asyncio.AbstractEventLoop,
    run: Callable[..., Awaitable[int]],
    frames: int,
    repeats: int,
    setup: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Like harness.timed (CPU time, wall beside it), for coroutines; ``setup()`` (untimed) makes
    each run's argument."""

    def once() -> tuple[int, int, int]:
        args = (setup(),) if setup else ()
        gc.collect()
        wall, start = time.perf_counter_ns(), time.process_time_ns()
        out = loop.run_until_complete(run(*args))
        return time.process_time_ns() - start, time.perf_counter_ns() - wall, out

    out_bytes = once()[2]  # warm-up
    samples = [once() for _ in range(repeats)]
    cpu = [s[0] for s in samples]
    return {
        "min_us": min(cpu) / frames / 1000,
        "median_us": statistics.median(cpu) / frames / 1000,
        "wall_median_us": statistics.median(s[1] for s in samples) / frames / 1000,
        "runs": repeats,
        "bytes_out": out_bytes,
    }


def _measure_one(
    loop: asyncio.AbstractEventLoop, name: str, build: Callable[[list[bytes]], Any], frames: list[bytes], repeats: int
) -> dict[str, Any]:
    n = len(frames)
    if name.endswith(".objects_in"):
        parse, translate = build(frames)
        setup, run = objects_runner(loop.run_until_complete(parse), translate)
        return timed_async(loop, run, n, repeats, setup)
    return timed_async(loop, build(frames), n, repeats)


def measure(ns: list[int], repeats: Callable[[int, str], int], only: set[str] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    builders: dict[str, tuple[str, Callable[[list[bytes]], Any]]] = {
        "openai-agents": ("chat->responses", agents_runner),
        "openai-agents.objects_in": ("chat->responses", lambda f: (agents_objects(f), _agents_translate)),
        "litellm.anthropic": ("chat->messages", litellm_anthropic_runner),
        "litellm.anthropic.objects_in": (
            "chat->messages",
            lambda f: (litellm_objects(f), _litellm_anthropic_translate),
        ),
        "litellm.responses": ("chat->responses", litellm_responses_runner),
    }
    for name, (direction, build) in builders.items():
        if only is not None and name not in only:
            continue
        for n in ns:
            row: dict[str, Any] = {"group": "peer", "peer": name, "direction": direction, "n": n, "layer": "peer"}
            try:
                row.update(_measure_one(loop, name, build, workload.frames("chat", n), repeats(n, name)))
            except Exception as exc:  # reported in the table, with the reason
                row["error"] = f"{type(exc).__name__}: {exc}"[:400]
                row["traceback"] = traceback.format_exc()[-2000:]
            rows.append(row)
            print(f"  peer {name} n={n}: {row.get('median_us', row.get('error'))}", file=sys.stderr, flush=True)
    loop.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", help="peer names to run (default: all)")
    args = parser.parse_args(argv)

    def repeats(n: int, name: str) -> int:
        if args.quick:
            return 2
        slow = name in ("litellm.anthropic", "litellm.responses", "openai-agents")
        if slow:
            return 3 if n <= 1_000 else 2 if n <= 10_000 else 1
        return 7 if n <= 1_000 else 3

    versions = {p: _version(p) for p in ("openai-agents", "openai", "litellm", "pydantic", "httpx")}
    rows = measure(args.n, repeats, set(args.only) if args.only else None)
    json.dump({"versions": versions, "python": sys.version.split()[0], "rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
