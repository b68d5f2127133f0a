"""``asgi-translate``: the package as a standalone translating proxy, served by uvicorn.

With ``--upstream-url`` every schema the remote does not speak is translated to the one it does,
and everything else (its native API, ``/v1/models``, ...) is proxied unchanged, so one base URL
serves Chat Completions, Responses and Messages clients. Without it, a built-in deterministic
demo model answers (:func:`asgi_translate.testing.demo_app`), so a fresh install answers ``curl``.

``--workers N`` runs N uvicorn worker processes on one port, one event loop per core, each
with a listening socket of its own on Linux (:mod:`asgi_translate._workers`). Their app is
built in each worker from the same options (:func:`worker_app`, which uvicorn imports by name),
read from ``$ASGI_TRANSLATE_CLI_ARGS``.

Logging costs nothing it is not asked for: one ``asgi_translate`` line per translated exchange at
``info``, no access line unless ``--access-log``, and httpx's own per-request line only at ``debug``.

The process is a server's, so its garbage collector is set for one (:func:`tune_gc`); the
middleware, a library inside someone else's process, never touches it.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from ._hub.routes import SCHEMAS, SchemaName
from ._middleware import DEFAULT_IDLE_TIMEOUT, TranslateMiddleware
from ._model_map import MaxTokensCap, ModelMap
from ._upstream import HTTPXUpstream
from ._workers import run_workers

logger = logging.getLogger("asgi_translate")

#: How the parent process hands its options to ``--workers`` processes (the command line, as JSON).
ARGS_ENV = "ASGI_TRANSLATE_CLI_ARGS"

_EPILOG = """\
examples:
  asgi-translate
      the built-in demo model on all three schemas at http://127.0.0.1:8000
  asgi-translate --upstream-url http://localhost:8000/v1 --upstream chat --port 4000 \\
      --model-map 'claude-*=Qwen/Qwen3-8B'
      Claude Code (ANTHROPIC_BASE_URL=http://127.0.0.1:4000) on a vLLM server
  ANTHROPIC_API_KEY=... asgi-translate --upstream-url https://api.anthropic.com --upstream messages \\
      --api-key-env ANTHROPIC_API_KEY
      OpenAI SDK clients on Claude
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asgi-translate",
        description="Serve OpenAI Chat Completions, OpenAI Responses and Anthropic Messages at once, "
        "translated to and from the one schema an upstream server speaks.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--upstream-url",
        metavar="URL",
        help="the server to forward to: an origin (https://api.anthropic.com) or a base ending in /v1 "
        "(http://localhost:8000/v1). Omitted: serve the built-in demo model.",
    )
    add(
        "--upstream",
        choices=SCHEMAS,
        default=None,
        help="the schema the upstream speaks: chat (/v1/chat/completions: vLLM, Ollama, llama.cpp, ...), "
        "messages (/v1/messages) or responses (/v1/responses). Default: chat.",
    )
    add("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s; 0.0.0.0 for all)")
    add("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    add(
        "--workers",
        metavar="N",
        type=_positive_int,
        default=1,
        help="worker processes sharing the port, one per core to use (default: %(default)s). More than one needs "
        "--response-store redis://... (or an explicit 'memory', where no client chains Responses turns) unless the "
        "upstream speaks Responses itself",
    )
    add(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn and asgi_translate log level (default: %(default)s): info is one line per translated exchange; "
        "debug adds httpx's own line per upstream request",
    )
    add("--access-log", action="store_true", help="also log uvicorn's line per HTTP request (default: off)")
    add(
        "--api-key-env",
        metavar="NAME",
        help="name of an environment variable holding the upstream API key; it replaces any key a client "
        "sends. The key itself is never logged or echoed.",
    )
    add(
        "--model-map",
        metavar="SPEC",
        type=_model_map,
        help="rename models on the way up, e.g. 'claude-*=Qwen/Qwen3-8B,gpt-4o=llama3,*=default': exact "
        "names first, then globs in order; responses keep the name the client asked for",
    )
    add(
        "--max-tokens-default",
        metavar="N",
        type=_positive_int,
        default=4096,
        help="max_tokens sent to a Messages upstream when a client gives none (default: %(default)s)",
    )
    add(
        "--max-tokens-cap",
        metavar="SPEC",
        type=_max_tokens_cap,
        help="largest max_tokens sent up, for servers with a small context: one number, or per model "
        "'claude-*=8192,*=16384' (the name the client asked for, then the upstream's); larger requests are "
        "lowered to it and the change is reported",
    )
    add(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=600.0,
        help="longest wait for the upstream's next bytes (default: %(default)s); a timeout answers 504",
    )
    add(
        "--connect-timeout",
        metavar="SECONDS",
        type=float,
        default=10.0,
        help="longest wait to connect to the upstream (default: %(default)s); unreachable answers 502",
    )
    add(
        "--response-store",
        metavar="URL",
        default=os.environ.get("ASGI_TRANSLATE_RESPONSE_STORE"),
        help="where Responses state (previous_response_id, GET/DELETE /v1/responses/{id}) lives: 'memory' "
        "(default; this process only) or redis://[:password@]host:6379/0, shared by every replica (needs "
        "asgi-translate[redis]). Default from $ASGI_TRANSLATE_RESPONSE_STORE, which keeps a password out of ps.",
    )
    add(
        "--idle-timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="longest silence of the upstream mid-answer, in process or remote, before the client's stream ends "
        "in its failure form (default: %(default)s)",
    )
    add(
        "--shared-responses",
        action="store_true",
        help="let any API key read and chain from stored Responses state (deployments where every client shares "
        "one key); by default a stored response belongs to the key that created it",
    )
    add(
        "--chat-reasoning-field",
        choices=["both", "reasoning_content", "reasoning"],
        default="both",
        help="where reasoning text goes toward chat clients and chat upstreams: reasoning_content (DeepSeek, "
        "LiteLLM), reasoning (vLLM >= 0.16, @openai/agents) or both (default); both are always read",
    )
    add(
        "--continuous-usage-stats",
        action="store_true",
        help="the chat upstream is vLLM: ask for usage on every chunk (stream_options.continuous_usage_stats), "
        "so Messages clients get the prompt's token count in message_start",
    )
    add(
        "--strict",
        action="store_true",
        help="refuse (400, listing them) any request whose translation would drop or coerce a field, instead of "
        "reporting the losses in the x-asgi-translate-losses response header",
    )
    return parser


def build_app(args: argparse.Namespace) -> TranslateMiddleware:
    """The ASGI app the options describe."""
    upstream: SchemaName = args.upstream or "chat"
    model_map = args.model_map or ModelMap()
    options: dict[str, Any] = {
        "model_map": model_map,
        "default_max_tokens": args.max_tokens_default,
        "max_tokens_cap": args.max_tokens_cap,
        "response_store": args.response_store,
        "strict": args.strict,
        "idle_timeout": args.idle_timeout,
        "responses_per_key": not args.shared_responses,
        "chat_reasoning_field": args.chat_reasoning_field,
        "continuous_usage_stats": args.continuous_usage_stats,
    }
    if args.upstream_url is None:
        from .testing import FakeModel

        return TranslateMiddleware(FakeModel(), upstream="chat", **options)
    import httpx

    return TranslateMiddleware(
        upstream=upstream,
        upstream_url=args.upstream_url,
        upstream_api_key=os.environ[args.api_key_env] if args.api_key_env else None,
        timeout=httpx.Timeout(args.timeout, connect=args.connect_timeout),
        **options,
    )


def check_workers(args: argparse.Namespace) -> str | None:
    """Why these options cannot run on several workers, or None. Responses state in one
    process's memory would make ``previous_response_id`` a 404 whenever the next turn lands on
    another worker: an intermittent failure that looks like the client's fault. So several
    workers need a shared store, or the operator saying ``memory`` on purpose."""
    if args.workers == 1 or args.response_store or args.upstream == "responses":
        return None
    return (
        f"--workers {args.workers}: each worker would keep Responses state (previous_response_id) in its own "
        "memory, so a conversation's next turn would fail on the other workers. Share it with --response-store "
        "redis://host:6379/0 (or $ASGI_TRANSLATE_RESPONSE_STORE), or pass --response-store memory if no client "
        "chains Responses turns"
    )


def configure_logging(args: argparse.Namespace) -> None:
    """One line per translated exchange at info; httpx's per-request line only at debug."""
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(format="%(levelname)s:     %(message)s")  # a no-op where handlers exist already
    logging.getLogger().setLevel(level)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))


#: The youngest generation is collected after this many net allocations of containers (Python's
#: default is 700). Each exchange keeps a few hundred alive for its length (its parsed request,
#: the canonical one, coroutines, futures), so with a hundred streams in flight the default
#: collects every few frames, promoting live exchanges into older generations that are collected
#: again and again. A hundred concurrent proxied exchanges cost 5% fewer instructions this way
#: (callgrind), and the collector's own traversals are the kind of work that costs more in time
#: than in instructions.
GC_THRESHOLD = (50_000, 10, 10)


def tune_gc(app: TranslateMiddleware) -> None:
    """Set the collector for a server process, once its code is loaded: what was imported and
    built so far (modules, the app, aiohttp when it carries the bytes) is moved out of every
    collection for good (:func:`gc.freeze`, made for servers), and young collections come at
    :data:`GC_THRESHOLD`. An exchange leaves no reference cycles behind (each would wait for a
    collection, and make the next one longer: tests/upstream/test_no_cycles.py), so those that
    come find little to free; what others leave (a user's hooks) is still collected, later."""
    if app.remote is not None and app.remote.transport == "aiohttp":
        import aiohttp  # noqa: F401 - imported now (it would be on the first request) to be frozen
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def worker_app() -> TranslateMiddleware:
    """The app of one ``--workers`` process, from the options the parent put in ``$ASGI_TRANSLATE_CLI_ARGS``."""
    args = build_parser().parse_args(json.loads(os.environ[ARGS_ENV]))
    configure_logging(args)
    app = build_app(args)
    tune_gc(app)  # uvicorn built the app after loading its protocol classes
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy until SIGINT or SIGTERM; returns the exit status (0 after a signal)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.upstream_url is None and (args.upstream or args.api_key_env):
        parser.error("--upstream and --api-key-env need --upstream-url (without it the demo model answers)")
    if args.api_key_env and not os.environ.get(args.api_key_env):
        parser.error(f"--api-key-env: the environment variable {args.api_key_env} is not set")
    refusal = check_workers(args)
    if refusal:
        parser.error(refusal)
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the installation
        parser.error('the command needs uvicorn: pip install "asgi-translate[cli]"')
    try:
        app = build_app(args)  # in the parent too, so that bad options fail here, once
    except (ValueError, ImportError) as exc:  # ImportError: --response-store redis:// without redis-py
        parser.error(str(exc))
    configure_logging(args)
    if args.workers > 1 and args.response_store == "memory":
        logger.warning(
            "asgi-translate: --response-store memory with %d workers: Responses state is per worker", args.workers
        )
    logger.info("asgi-translate: %s", _describe(args, app.remote))
    common: dict[str, Any] = dict(
        host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log, lifespan="on"
    )
    if args.workers > 1:
        os.environ[ARGS_ENV] = json.dumps(argv)  # spawned workers inherit the environment
        config = uvicorn.Config("asgi_translate.cli:worker_app", factory=True, workers=args.workers, **common)
        return run_workers(config)
    config = uvicorn.Config(app, **common)
    config.load()  # uvicorn's protocol classes, imported before tune_gc freezes what is loaded
    tune_gc(app)
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down, which would end the
    # process with a KeyboardInterrupt traceback (SIGINT) or status 143 (SIGTERM). A stop asked
    # for is a success: absorb that second delivery.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 1


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Swallow the signal uvicorn re-raises after its graceful shutdown."""


def _describe(args: argparse.Namespace, remote: HTTPXUpstream | None) -> str:
    if remote is None:
        where = "the built-in demo model (no --upstream-url)"
    else:
        where = f"{remote.display_origin}{remote.prefix} ({remote.upstream})"  # no user:password@, never the key
    return f"serving chat, messages and responses at http://{args.host}:{args.port}, answered by {where}"


def _model_map(spec: str) -> ModelMap:
    try:
        return ModelMap.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _max_tokens_cap(spec: str) -> MaxTokensCap:
    try:
        return MaxTokensCap.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
