"""The ``asgi-translate`` command: options, the app they build, and the real process.

The process tests start ``python -m asgi_translate`` (what the console script runs), drive it with
the official SDKs, stop it with a signal and expect a clean exit: status 0, no traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import httpx2
import openai
import pytest
from servers import free_port, run_command, serve

from asgi_translate.cli import build_app, build_parser, main
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

SECRET = "sk-cli-secret-9876543210"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(argv)


# -- options ---------------------------------------------------------------------------------------------


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--upstream-url", "--upstream", "--host", "--port", "--log-level", "--api-key-env"):
        assert option in out
    for option in ("--model-map", "--max-tokens-default", "--timeout", "--connect-timeout"):
        assert option in out
    assert "demo model" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model-map", "claude-*"], "not of the form NAME=UPSTREAM_NAME"),
        (["--upstream", "messages"], "need --upstream-url"),
        (["--upstream-url", "http://h", "--api-key-env", "ASGI_TRANSLATE_TEST_UNSET"], "is not set"),
        (["--upstream-url", "localhost:8000"], "http:// or https://"),
        (["--max-tokens-default", "0"], "not a positive integer"),
        (["--upstream", "gemini"], "invalid choice"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.pop("ASGI_TRANSLATE_TEST_UNSET", None)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_no_upstream_url_serves_the_demo_model_on_chat() -> None:
    app = build_app(parse("--max-tokens-default", "77", "--model-map", "claude-*=fake-model"))
    assert isinstance(app.app, FakeModel)
    assert app.remote is None
    assert app.max_tokens_for("x") == 77
    assert app.model_map("claude-custom-model") == "fake-model"
    assert {route.upstream for route in app.routes.values()} == {"chat"}


def test_an_upstream_url_builds_a_proxy_with_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_UPSTREAM_KEY", SECRET)
    argv = ["--upstream-url", "http://h:1/v1", "--upstream", "messages", "--api-key-env", "MY_UPSTREAM_KEY"]
    app = build_app(parse(*argv, "--timeout", "7", "--connect-timeout", "2"))
    assert app.remote is not None and app.app is app.remote
    assert (app.remote.upstream, app.remote.origin, app.remote.prefix) == ("messages", "http://h:1", "/v1")
    assert (app.remote.timeout.read, app.remote.timeout.connect) == (7.0, 2.0)
    assert ("x-api-key", SECRET) in app.remote.headers_for({"headers": [(b"x-api-key", b"client")]})


# -- the real process ---------------------------------------------------------------------------------------


def stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=15)
    return process.returncode, out, err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_demo_answers_all_three_schemas_then_stops_cleanly(sig: signal.Signals) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with run_command(["--port", str(port)], port) as process:
        async with httpx2.AsyncClient(timeout=10) as http:
            gpt = openai.AsyncOpenAI(base_url=base + "/v1", api_key="x", http_client=http)
            chunks = await gpt.chat.completions.create(
                model="demo", messages=[{"role": "user", "content": "hi chat"}], stream=True
            )
            chat_text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
            response = await gpt.responses.create(model="demo", input="hi responses")
            claude = anthropic.AsyncAnthropic(base_url=base, api_key="x", http_client=http)
            async with claude.messages.stream(
                model="claude-demo", max_tokens=32, messages=[{"role": "user", "content": "hi messages"}]
            ) as stream:
                message = await stream.get_final_message()
        status, out, err = stop(process, sig)
    assert chat_text == "You said: hi chat"
    assert response.output_text == "You said: hi responses"
    assert message.content[0].type == "text" and message.content[0].text == "You said: hi messages"
    assert message.model == "claude-demo"
    assert status == 0, err
    assert "Traceback" not in err + out
    assert "built-in demo model" in err


@pytest.fixture
def remote() -> Iterator[tuple[FakeModel, str]]:
    model = FakeModel()
    with serve(model) as url:
        yield model, url


@pytest.mark.slow
async def test_the_proxy_forwards_to_its_upstream_with_the_configured_key(
    remote: tuple[FakeModel, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, url = remote
    monkeypatch.setenv("CLI_TEST_KEY", SECRET)  # inherited by the child process
    port = free_port()
    argv = ["--upstream-url", url + "/v1", "--upstream", "chat", "--port", str(port), "--api-key-env", "CLI_TEST_KEY"]
    argv += ["--model-map", "claude-*=fake-model", "--log-level", "debug"]
    with run_command(argv, port) as process:
        async with httpx2.AsyncClient(timeout=10) as http:
            claude = anthropic.AsyncAnthropic(base_url=f"http://127.0.0.1:{port}", api_key="client", http_client=http)
            async with claude.messages.stream(
                model="claude-custom-model", max_tokens=32, messages=[{"role": "user", "content": "over the wire"}]
            ) as stream:
                message = await stream.get_final_message()
            models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()  # noqa: ASYNC210
        status, out, err = stop(process, signal.SIGTERM)
    assert message.content[0].type == "text" and message.content[0].text == "You said: over the wire"
    assert message.model == "claude-custom-model"
    assert [m["id"] for m in models["data"]] == ["fake-model"]  # untranslated paths are proxied
    seen = next(request for request in model.requests if request.method == "POST")
    assert (seen.path, seen.body["model"]) == ("/v1/chat/completions", "fake-model")
    assert seen.headers["authorization"] == f"Bearer {SECRET}"
    assert status == 0, err
    assert "Traceback" not in err
    assert SECRET not in out + err


@pytest.mark.slow
def test_the_console_script_is_installed() -> None:
    script = shutil.which("asgi-translate", path=str(Path(sys.executable).parent))
    if script is None:  # pragma: no cover - an environment without the package installed
        pytest.skip("asgi-translate is not installed in this environment")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: asgi-translate")


def test_the_command_exposes_the_stream_and_state_options() -> None:
    """Every option an operator of a vLLM or shared-key deployment needs is a flag, demo model or remote."""
    parse = build_parser().parse_args
    flags = [
        "--idle-timeout",
        "30",
        "--shared-responses",
        "--chat-reasoning-field",
        "reasoning",
        "--continuous-usage-stats",
    ]
    for base in ([], ["--upstream-url", "http://h:1/v1"]):
        settings = build_app(parse([*base, *flags])).settings
        assert settings.idle_timeout == 30.0
        assert settings.responses_per_key is False
        assert settings.reasoning_fields == ("reasoning",)
        assert settings.continuous_usage_stats is True
    defaults = build_app(parse([])).settings
    assert (defaults.idle_timeout, defaults.responses_per_key) == (600.0, True)
    assert defaults.reasoning_fields == ("reasoning_content", "reasoning")
    assert defaults.continuous_usage_stats is False
