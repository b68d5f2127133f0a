"""A learned frame template reads a repeated delta frame's text exactly as parsing it would.

The reference for every case is the chat decoder's own reader on the parsed frame: a template
answers a text only where that reader would answer the same text, and misses (None: parse the
frame) everywhere else.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from conftest import make_context
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_translate._hub import frame_template
from asgi_translate._hub import json as json_backend
from asgi_translate._hub.canonical import BlockDelta, BlockKind, BlockStart, BlockStop, MessageStart, Request
from asgi_translate._hub.frame_template import FrameTemplate, learn
from asgi_translate._hub.json import loads_bytes
from asgi_translate._hub.sse import ServerSentEvent
from asgi_translate.schemas.openai_chat import _decoder
from asgi_translate.schemas.openai_chat._decoder import ChatStreamDecoder

HEAD = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1758034836,"model":"m"'


def openai(content: str, obfuscation: str | None = "qfQV", **choice: Any) -> bytes:
    """A chat chunk as OpenAI writes one: compact, non-ASCII as it is, obfuscation last."""
    body: dict[str, Any] = json.loads(HEAD + "}")
    body["choices"] = [{"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": None, **choice}]
    body["usage"] = None
    if obfuscation is not None:
        body["obfuscation"] = obfuscation
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def started_decoder() -> ChatStreamDecoder:
    """A decoder with a text block open, as after a stream's first chunks."""
    decoder = ChatStreamDecoder(make_context(Request(model="m", messages=[])))
    decoder.decode(ServerSentEvent(openai("Hi").decode()))
    assert decoder._kind == "text"
    return decoder


def read(decoder: ChatStreamDecoder, data: bytes) -> str | None:
    """What the decoder's reader answers for ``data`` parsed whole (None: not a plain delta)."""
    try:
        value = loads_bytes(data)
    except ValueError:
        return None
    return decoder._read(value)


def counted_parses(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[bytes]:
    """The bytes that ``module.name`` (a JSON parser the module bound at import) parses from now
    on, each parsed as before: how a test sees which frames were read without parsing."""
    parsed: list[bytes] = []

    def counted(data: bytes) -> Any:
        parsed.append(data)
        return loads_bytes(data)

    monkeypatch.setattr(module, name, counted)
    return parsed


def test_a_template_reads_later_frames_with_any_obfuscation() -> None:
    decoder = started_decoder()
    template = learn(openai(" world"), " world", decoder._read, "obfuscation")
    assert template is not None
    assert template.head.endswith(b'"delta":{"content":"')
    assert template.tail == b'"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"'
    assert template.end == b'"}'
    assert template.text_of(openai(" caf\u00e9 \U0001f642", "qfQVOwfh62")) == " caf\u00e9 \U0001f642"
    assert template.text_of(openai("line\n\nnext\t\u2028", "")) == "line\n\nnext\t\u2028"  # escaped: parsed alone
    assert template.text_of(openai('say "hi"', "x1")) == 'say "hi"'  # its end is found from the frame's end
    assert template.text_of(openai('ends with a quote"')) == 'ends with a quote"'
    assert template.text_of(openai("ends with a backslash\\")) == "ends with a backslash\\"
    assert template.text_of(openai("<", None)) is None  # no obfuscation: another frame


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (openai("x").replace(b'"content":"x"', b'"content":"x","y":"z"'), "another key: the slot is no one string"),
        (openai("x").replace(b'"content":"x"', b'"content":"x\\"'), "an escaped quote where the text should end"),
        (openai(""), "no text"),
        (openai("x", "has-dash"), "obfuscation that is not letters and digits"),
        (openai("x", finish_reason="stop"), "a finish_reason: another frame"),
        (openai("x").replace(b'"finish_reason":null', b'"finish_reason":"ab"'), "another frame, as long"),
        (openai("x").replace(b'"x"', b'"a\x01b"'), "a raw control character: not JSON"),
        (openai("x").replace(b'"x"', b'"\\q"'), "an escape JSON does not have"),
        (openai("x")[:-2], "the frame's end is cut"),
        (openai("x")[:-1] + b'"}', "a quote in the free slot"),
        (openai("x") + b" ", "bytes after the frame"),
        (openai("x").replace(b'"obfuscation":"qfQV"}', b'"obfuscation":"qf"}"}'), "a frame in the free slot"),
        (openai("x").replace(b'"obfuscation":"qfQV"}', b'"obfuscation":""}'[:-2]), "no end"),
    ],
)
def test_a_template_misses_every_frame_it_cannot_read_exactly(data: bytes, why: str) -> None:
    decoder = started_decoder()
    template = learn(openai(" world"), " world", decoder._read, "obfuscation")
    assert template is not None
    assert template.text_of(data) is None, why


def test_bytes_that_are_not_utf8_are_read_as_the_frames_parser_reads_them() -> None:
    decoder = started_decoder()
    template = learn(openai(" world"), " world", decoder._read, "obfuscation")
    assert template is not None
    data = openai("x").replace(b'"x"', b'"\xff"')
    # orjson refuses them (the decoder then reads the frame with U+FFFD in place); the stdlib
    # backend reads them replaced, for the slot as for the whole frame.
    assert template.text_of(data) == (None if json_backend.BACKEND == "orjson" else "\ufffd")


def test_without_a_free_slot_the_frame_must_repeat_every_other_byte() -> None:
    decoder = started_decoder()
    template = learn(openai(" world", None), " world", decoder._read, None)
    assert template is not None and template.end is None
    assert template.text_of(openai("next", None)) == "next"
    assert template.text_of(openai('{"a": "b"}', None)) == '{"a": "b"}'
    assert template.text_of(openai("next", None) + b"}") is None
    finished = openai("next", None).replace(b'"finish_reason":null', b'"finish_reason":"ab"')  # as long
    assert template.text_of(finished) is None
    assert template.text_of(openai("next", "abc")) is None


def test_no_template_when_the_slot_is_not_proved() -> None:
    decoder = started_decoder()
    # The text also names the model: two places it could come from.
    assert learn(openai("m"), "m", decoder._read, "obfuscation") is None
    # A reader that never answers the marker: nothing is kept.
    assert learn(openai("x"), "x", lambda value: None, "obfuscation") is None
    # The upstream writes the text another way than orjson would (\u escapes): not found.
    escaped = openai("x").replace(b'"content":"x"', b'"content":"\\u0078"')
    assert learn(escaped, "x", decoder._read, "obfuscation") is None


def test_a_nested_obfuscation_key_is_not_taken_for_the_free_slot() -> None:
    decoder = started_decoder()
    nested = openai("x", None).replace(b'"usage":null', b'"usage":null,"extra":{"obfuscation":"ab"}')
    template = learn(nested, "x", decoder._read, "obfuscation")
    # The probe put its marker in the nested value and the top-level key is missing: no template.
    assert template is None


def shape(template: FrameTemplate | None) -> tuple[bytes, bytes, bytes | None] | None:
    return None if template is None else (template.head, template.tail, template.end)


def test_a_parsed_frame_with_no_backslash_needs_no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = started_decoder()
    data = openai(" world", "qfQV")
    parsed = counted_parses(monkeypatch, frame_template, "loads_bytes")
    template = learn(data, " world", decoder._read, "obfuscation", loads_bytes(data))
    assert parsed == []  # no probe
    assert template is not None and template.end == b'"}'
    assert shape(template) == shape(learn(data, " world", decoder._read, "obfuscation"))
    assert len(parsed) == 1 and frame_template._MARK_BYTES in parsed[0]  # the same, proved by the probe
    assert template.text_of(openai("next", "abc")) == "next"


@pytest.mark.parametrize("text", ['{"', "line\nbreak", 'a "quote" and a \\'])
def test_a_parsed_frame_whose_backslashes_are_its_texts_needs_no_probe(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """The escapes of the text itself (the ``{\\"`` that opens a call's arguments, a line break,
    a quote) are in the slot: the proof holds without a probe, and keeps what the probe keeps."""
    decoder = started_decoder()
    data = openai(text, "qfQV")
    assert b"\\" in data
    parsed = counted_parses(monkeypatch, frame_template, "loads_bytes")
    template = learn(data, text, decoder._read, "obfuscation", loads_bytes(data))
    assert parsed == []
    assert shape(template) == shape(learn(data, text, decoder._read, "obfuscation"))
    assert len(parsed) == 1
    assert template is not None and template.text_of(openai('next "one"', "abc")) == 'next "one"'


def test_a_parsed_frame_the_proof_does_not_cover_is_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = started_decoder()
    probes = counted_parses(monkeypatch, frame_template, "loads_bytes")
    # A backslash anywhere (here in the model's name), the free key's name written twice, a
    # free value that is not the top-level key's, a reader that answers another text.
    backslash = openai(" world").replace(b'"model":"m"', b'"model":"m\\\\"')
    twice = openai(" world").replace(b'"model":"m"', b'"model":"obfuscation"')
    nested = openai(" world", None).replace(b'"usage":null', b'"usage":null,"extra":{"obfuscation":"ab"}')
    for data in (backslash, twice, nested):
        before = len(probes)
        template = learn(data, " world", decoder._read, "obfuscation", loads_bytes(data))
        assert len(probes) == before + 1, data
        assert shape(template) == shape(learn(data, " world", decoder._read, "obfuscation")), data
    assert learn(openai(" world"), " world", lambda value: "other", "obfuscation", {}) is None
    assert shape(learn(nested, " world", decoder._read, "obfuscation", loads_bytes(nested))) is None


@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    obfuscation=st.one_of(st.none(), st.text(max_size=6)),
    model=st.one_of(
        st.sampled_from(["m", "obfuscation", "m\\", " world", '{"', '"', '\\"', "<text>", 'x"<text>']),
        st.text(max_size=6),
    ),
    extra=st.sampled_from(["", ',"extra":{"obfuscation":"qfQV"}', ',"obfuscation":"qfQV"']),
    escaped=st.booleans(),
)
@settings(max_examples=600, deadline=None)
def test_a_parsed_frame_learns_what_the_probe_learns(
    text: str, obfuscation: str | None, model: str, extra: str, escaped: bool
) -> None:
    """The proof without a probe only ever keeps the template the probe keeps: also where the
    text is written with an escape it does not need (``escaped``: its first character as
    ``\\uXXXX``) and another string holds the bytes ``dumpb`` writes for it (a model named
    ``x"`` + the text is written ``"x\\"<text>"``, whose end is the text between quotes)."""
    decoder = started_decoder()
    model = model.replace("<text>", text)
    data = openai(text, obfuscation).replace(b'"model":"m"', b'"model":' + json.dumps(model).encode())
    data = data.replace(b'"usage":null', b'"usage":null' + extra.encode())
    if escaped and text:
        written = json.dumps(text, ensure_ascii=False).encode()
        first = text[0]  # as \\uXXXX, or the surrogate pair json.dumps writes beyond the BMP
        spelled = b"\\u%04x" % ord(first) if ord(first) < 0x10000 else json.dumps(first).encode()[1:-1]
        rest = json.dumps(text[1:], ensure_ascii=False).encode()[1:]
        data = data.replace(b'"content":' + written, b'"content":"' + spelled + rest, 1)
    try:
        value = loads_bytes(data)
    except ValueError:  # a duplicate key written twice is still JSON; anything else is not made here
        return
    if decoder._read(value) != text or not text:
        return
    assert shape(learn(data, text, decoder._read, "obfuscation", value)) == shape(
        learn(data, text, decoder._read, "obfuscation")
    )


# -- the chat decoder's use of it -------------------------------------------------------------


def test_the_decoder_learns_once_and_reads_later_frames_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = started_decoder()
    assert decoder.decode_data(openai(" one", "a1"), "") == (0, " one")
    assert "text" in decoder._templates
    parsed = counted_parses(monkeypatch, _decoder, "_loads_bytes")
    assert decoder.decode_data(openai(" two", "b22"), "") == (0, " two")
    assert decoder.decode_data(openai("\n", "c333"), "") == (0, "\n")
    assert parsed == []  # the template read both
    assert decoder.decode_data(openai("", "d"), "") == []  # missed: parsed, and nothing to say
    assert len(parsed) == 1


def test_the_frame_that_opens_a_block_is_learned_so_the_second_is_not_parsed() -> None:
    decoder = ChatStreamDecoder(make_context(Request(model="m", messages=[])))
    role = openai("").replace(b'"delta":{"content":""}', b'"delta":{"role":"assistant","content":""}')
    assert decoder.decode_data(role, "") == [MessageStart("chatcmpl-1", "m")]
    reasoning = openai("x").replace(b'{"content":"x"}', b'{"content":null,"reasoning_content":"think"}')
    assert decoder.decode_data(reasoning, "") == [BlockStart(0, "reasoning"), BlockDelta(0, "think")]
    assert "reasoning" in decoder._templates and decoder._probes == _decoder._PROBES - 1
    assert decoder.decode_data(reasoning.replace(b'"think"', b'" more"'), "") == (0, " more")
    opened = decoder.decode_data(openai("Hi"), "")  # the text block opens: learned at once too
    assert opened == [BlockStop(0), BlockStart(1, "text"), BlockDelta(1, "Hi")]
    assert decoder.decode_data(openai(" there", "b2"), "") == (1, " there")
    assert decoder._probes == _decoder._PROBES - 2


def test_a_stream_that_never_repeats_spends_a_few_probes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = started_decoder()
    learned: list[str] = []

    def counted(data: bytes, text: str, *rest: Any) -> FrameTemplate | None:
        learned.append(text)
        return learn(data, text, *rest)

    monkeypatch.setattr(_decoder, "learn", counted)
    for n in range(20):  # a new "created" on every chunk: each template misses the next frame
        frame = openai(f"t{n}").replace(b"1758034836", str(1758034836 + n).encode())
        assert decoder.decode_data(frame, "") == (0, f"t{n}")
    assert len(learned) == _decoder._PROBES
    assert decoder._probes == 0


def test_texts_with_quotes_and_escapes_are_read_without_parsing_or_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = started_decoder()
    assert decoder.decode_data(openai(" one"), "") == (0, " one")
    parsed = counted_parses(monkeypatch, _decoder, "_loads_bytes")
    escaped = openai("x").replace(b'"content":"x"', b'"content":"\\u0078"')  # written another way
    for frame, text in [(openai('a "quote"'), 'a "quote"'), (openai("a backslash\\"), "a backslash\\"), (escaped, "x")]:
        assert decoder.decode_data(frame, "") == (0, text)
    assert parsed == []
    assert decoder._probes == _decoder._PROBES - 1


def test_a_frame_that_opens_as_the_template_does_spends_no_probe() -> None:
    decoder = started_decoder()
    assert decoder.decode_data(openai(" one"), "") == (0, " one")
    other_tail = openai("two").replace(b'"usage":null', b'"usage":null,"service_tier":"default"')
    for _ in range(3):  # missed (another end), parsed, and not learned again: its head is known
        assert decoder.decode_data(other_tail, "") == (0, "two")
    assert decoder._probes == _decoder._PROBES - 1


def test_the_template_is_per_block_kind() -> None:
    decoder = ChatStreamDecoder(make_context(Request(model="m", messages=[])))
    reasoning = openai("x").replace(b'{"content":"x"}', b'{"content":null,"reasoning_content":"x"}')
    first = reasoning.replace(b'"x"', b'"think"')
    out = decoder.decode_data(first, "")
    assert isinstance(out, list)  # the first chunk starts the message and the block
    assert decoder.decode_data(reasoning.replace(b'"x"', b'" more"'), "") == (0, " more")
    assert set(decoder._templates) == {"reasoning"}
    # A text frame does not fit the reasoning template: parsed, it closes the block and opens text.
    out = decoder.decode_data(openai("Answer"), "")
    assert isinstance(out, list) and out[-1] == BlockDelta(1, "Answer")
    assert decoder.decode_data(openai(" more"), "") == (1, " more")
    assert set(decoder._templates) == {"reasoning", "text"}
    # Back to reasoning text while a text block is open: the reasoning template is not consulted.
    out = decoder.decode_data(reasoning, "")
    assert isinstance(out, list) and out[-1] == BlockDelta(2, "x")


# -- property: the template answers what parsing answers --------------------------------------

_SLOT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_RAW = st.binary(max_size=6)


@given(text=_SLOT, raw_cut=_RAW, obfuscation=st.text(max_size=6), mode=st.sampled_from(["text", "raw", "free"]))
@settings(max_examples=400, deadline=None)
def test_a_template_never_answers_other_than_the_reader(text: str, raw_cut: bytes, obfuscation: str, mode: str) -> None:
    decoder = started_decoder()
    template = learn(openai(" world"), " world", decoder._read, "obfuscation")
    assert isinstance(template, FrameTemplate)
    if mode == "text":
        data = openai(text, obfuscation)
    elif mode == "raw":  # any bytes in the text slot, valid JSON or not
        data = template.head + raw_cut + template.tail + b"abc" + (template.end or b"")
    else:  # any bytes in the free slot
        data = template.head + b"ok" + template.tail + raw_cut + (template.end or b"")
    answer = template.text_of(data)
    if answer is not None:
        assert answer == read(decoder, data)


def test_the_marker_needs_no_escape() -> None:
    assert json.dumps(frame_template._MARK) == '"' + frame_template._MARK + '"'


def call_frame(vendor: int, arguments: str, obfuscation: str = "ab", **call: Any) -> bytes:
    """An OpenAI chunk streaming a tool call's arguments."""
    body: dict[str, Any] = json.loads(HEAD + "}")
    function: dict[str, Any] = {"arguments": arguments, **call.pop("function", {})}
    delta = {"tool_calls": [{"index": vendor, **call, "function": function}]}
    body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]
    body["usage"], body["obfuscation"] = None, obfuscation
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def test_an_open_calls_arguments_are_read_by_its_template(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = started_decoder()
    opened = decoder.decode_data(call_frame(0, "", id="call_1", type="function", function={"name": "f"}), "")
    assert opened == [BlockStop(0), BlockStart(1, "tool_call", call_id="call_1", name="f")]
    assert decoder.decode_data(call_frame(0, '{"city": '), "") == [BlockDelta(1, '{"city": ')]  # parsed, learned
    assert None in decoder._templates and decoder._call_index == 1
    parsed = counted_parses(monkeypatch, _decoder, "_loads_bytes")
    assert decoder.decode_data(call_frame(0, '"Par', "x1y2"), "") == (1, '"Par')
    assert decoder.decode_data(call_frame(0, 'is"}'), "") == (1, 'is"}')
    assert parsed == []
    # A second call (vendor 1) opens, streams, and is learned in its turn; the first is parsed again.
    second = call_frame(1, "", id="call_2", type="function", function={"name": "g"})
    assert decoder.decode_data(second, "") == [BlockStart(2, "tool_call", call_id="call_2", name="g")]
    assert decoder.decode_data(call_frame(1, "{}"), "") == [BlockDelta(2, "{}")]
    assert decoder.decode_data(call_frame(1, " "), "") == (2, " ")
    assert decoder._last_vendor == 1
    assert decoder.decode_data(call_frame(0, "late"), "") == [BlockDelta(1, "late")]
    assert decoder._last_vendor == 0  # routed back, as the general path routes it


def test_a_calls_template_follows_its_frames_shape() -> None:
    decoder = started_decoder()
    decoder.decode_data(call_frame(0, "", id="call_1", type="function", function={"name": "f"}), "")
    named = call_frame(0, "{}", id="call_1")  # the id again: the same answer, another frame
    assert decoder.decode_data(named, "") == [BlockDelta(1, "{}")]
    assert decoder.decode_data(named.replace(b'"{}"', b'"[0]"'), "") == (1, "[0]")
    assert decoder.decode_data(call_frame(0, "[1]"), "") == [BlockDelta(1, "[1]")]  # another head: learned again
    template = decoder._templates[None]
    assert template.text_of(named.replace(b'"{}"', b'"[2]"')) is None
    assert template.text_of(call_frame(0, "[2]")) == "[2]"
    assert decoder._probes == _decoder._PROBES - 2
    # A hit routes as the general path does: a frame without an index then goes to the same call.
    decoder._probes = 0
    decoder.decode_data(call_frame(1, "", id="call_2", type="function", function={"name": "g"}), "")
    assert decoder._last_vendor == 1
    assert decoder.decode_data(call_frame(0, "[3]"), "") == (1, "[3]")
    assert decoder._last_vendor == 0
    unindexed = json.loads(call_frame(0, "[4]"))
    del unindexed["choices"][0]["delta"]["tool_calls"][0]["index"]
    assert decoder.decode_data(json.dumps(unindexed).encode(), "") == [BlockDelta(1, "[4]")]
    pending = started_decoder()  # a call not yet named is pending, not open: nothing to learn
    pending.decode_data(call_frame(3, '{"a"', id="call_9"), "")
    assert pending.decode_data(call_frame(3, ":1}"), "") == []
    assert None not in pending._templates


# -- runs: several frames read at once --------------------------------------------------------


def free_template() -> FrameTemplate:
    template = learn(openai(" world"), " world", started_decoder()._read, "obfuscation")
    assert isinstance(template, FrameTemplate) and template.end is not None
    return template


def test_a_run_reads_the_frames_it_opens_with_in_one_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    template = free_template()
    texts = ["a", 'say "hi"', "caf\u00e9\n", "back\\", ",", "\U0001f642", '","', "x"]
    frames = [openai(text, "qf" * i) for i, text in enumerate(texts)]
    parsed = counted_parses(monkeypatch, frame_template, "loads_bytes")
    assert template.texts_of_run(frames, 0) == texts
    assert len(parsed) == 1
    assert template.texts_of_run(frames, 5) == texts[5:]
    # Another frame ends the run, wherever it is; the frames before it are read.
    other = openai("y", finish_reason="stop")
    assert template.texts_of_run([*frames[:3], other, *frames[3:]], 0) == texts[:3]
    assert template.texts_of_run([other, *frames], 0) is None  # not the template's bytes: read alone
    assert template.texts_of_run([openai("y").replace(b"chatcmpl-1", b"chatcmpl-2"), *frames], 0) is None
    reasoning = openai("y").replace(b'"content"', b'"reasoning_content"')
    assert template.texts_of_run([reasoning, *frames], 0) is None  # another kind: not tried
    assert template.texts_of_run([*frames[:2], openai("")], 0) == texts[:2]  # no text: parsed alone
    control = openai("x").replace(b'"x"', b'"a\x01b"')  # the template's bytes, but no JSON string
    assert template.texts_of_run([*frames[:2], control, *frames], 0) == []  # the run failed: one by one


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (openai("x", "has-dash"), "obfuscation that is not letters and digits"),
        (openai("x").replace(b'"x"', b'"a\x01b"'), "a raw control character: not JSON"),
        (openai("x").replace(b'"x"', b'"\\q"'), "an escape JSON does not have"),
        (openai("x").replace(b'"content":"x"', b'"content":"x","y":"z"'), "another key: two strings"),
        (openai("x").replace(b'"content":"x"', b'"content":"x\\"'), "an escaped quote where the text ends"),
        (openai("x").replace(b'"qfQV"}', b'"qf"}"}'), "a frame in the free slot"),
    ],
)
def test_a_run_ends_before_a_frame_it_cannot_read_exactly(bad: bytes, why: str) -> None:
    template = free_template()
    frames = [openai("a"), bad, openai("b")]
    assert template.text_of(bad) is None, why
    # At most the frame before it is read as a run: the rest are then read one by one.
    assert template.texts_of_run(frames, 0) in ([], ["a"]), why


def test_a_run_without_a_free_slot_and_its_window() -> None:
    template = learn(openai(" world", None), " world", started_decoder()._read, None)
    assert template is not None and template.end is None
    frames = [openai(str(i), None) for i in range(100)]
    assert template.texts_of_run(frames, 0) == [str(i) for i in range(frame_template._WINDOW)]
    assert template.texts_of_run(frames, 90) == [str(i) for i in range(90, 100)]
    assert template.texts_of_run([*frames[:2], openai("2", "abc")], 0) == ["0", "1"]


_RUN_FRAME = st.one_of(
    st.tuples(st.just("text"), _SLOT, st.text(alphabet="abcXYZ019", max_size=4)),
    st.tuples(st.just("raw"), _RAW, st.just("ab")),
    st.tuples(st.just("free"), st.just("ok"), st.text(max_size=3)),
    st.tuples(st.just("other"), _SLOT, st.just("")),
)


@given(drawn=st.lists(_RUN_FRAME, min_size=1, max_size=8), start=st.integers(min_value=0, max_value=7))
@settings(max_examples=400, deadline=None)
def test_a_run_never_answers_other_than_text_of(drawn: list[tuple[str, Any, str]], start: int) -> None:
    """Whatever the frames (any text, any bytes in either slot, other frames among them), a run
    is the answers text_of gives its frames one by one, from the first, none of them None."""
    template = free_template()
    frames: list[bytes] = []
    for mode, slot, free in drawn:
        if mode == "text":
            frames.append(openai(slot, free))
        elif mode == "raw":
            frames.append(template.head + slot + template.tail + free.encode() + (template.end or b""))
        elif mode == "free":
            frames.append(template.head + b"ok" + template.tail + free.encode() + (template.end or b""))
        else:
            frames.append(openai(slot, free, finish_reason="stop"))
    frames = [frame for frame in frames if b"\n" not in frame and b"\r" not in frame]  # the lane's frames
    if start >= len(frames):
        return
    texts = template.texts_of_run(frames, start) or []
    answers = [template.text_of(frame) for frame in frames[start : start + len(texts)]]
    assert texts == answers and None not in answers


# -- every vendor's text frames are read by the shortcut, and learned -------------------------

_CALL = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
_DETAIL = {"type": "reasoning.text", "text": "t", "signature": "s"}
_VALUES: list[Any] = [None, "", "x", " more", 5, True, [], {}, [{"index": 0}], [_CALL], [_DETAIL]]
_DELTAS = st.dictionaries(
    st.sampled_from(
        ["content", "reasoning_content", "reasoning", "refusal", "role", "channel", "tool_calls", "reasoning_details"]
    ),
    st.sampled_from(_VALUES),
    max_size=5,
)


@given(delta=_DELTAS, open_kind=st.sampled_from([None, "text", "reasoning", "refusal"]))
@settings(max_examples=600, deadline=None)
def test_the_text_of_a_delta_is_what_the_walk_over_every_field_reads(delta: dict[str, Any], open_kind: Any) -> None:
    """Where the shortcut answers a kind and a text, the decoder's full walk over the delta gives
    exactly that text, in a block of that kind (opened if another is open), and reads nothing
    else. Where it answers None the walk reads the delta, which is always right."""
    found = _decoder._text_of(delta)
    decoder = started_decoder()
    if open_kind != "text":
        decoder._close([])
        if open_kind is not None:
            decoder._open(open_kind, [])
    before = decoder._index
    out: list[Any] = []
    decoder._walk(dict(delta), out)
    if found is None:
        return
    kind, text = found
    assert decoder._pending == {} and decoder._signature is None  # nothing else was read
    if kind == open_kind:
        assert out == [BlockDelta(before, text)]
    else:
        assert out[-2:] == [BlockStart(decoder._index, kind), BlockDelta(decoder._index, text)]
        assert out[:-2] == ([BlockStop(before)] if open_kind is not None else [])


@pytest.mark.parametrize(
    ("vendor", "delta", "kind"),
    [
        ("xAI", '{"reasoning_content":"%s"}', "reasoning"),
        ("Groq", '{"reasoning":"%s","channel":"analysis"}', "reasoning"),
        ("GLM", '{"role":"assistant","reasoning_content":"%s"}', "reasoning"),
        ("vLLM", '{"reasoning":"%s"}', "reasoning"),
        ("DeepSeek", '{"content":null,"reasoning_content":"%s"}', "reasoning"),
        ("OpenRouter", '{"role":"assistant","content":"%s"}', "text"),
    ],
)
def test_each_vendors_block_is_opened_by_the_shortcut_and_read_by_a_template(
    vendor: str, delta: str, kind: BlockKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoder = ChatStreamDecoder(make_context(Request(model="m", messages=[])))
    assert decoder.decode_data(openai(""), "") == [MessageStart("chatcmpl-1", "m")]
    frame = openai("x").replace(b'{"content":"x"}', (delta % "first").encode())
    walked: list[dict[str, Any]] = []
    walk = ChatStreamDecoder._walk

    def counted(self: ChatStreamDecoder, delta: dict[str, Any], out: list[Any]) -> None:
        walked.append(delta)
        walk(self, delta, out)

    monkeypatch.setattr(ChatStreamDecoder, "_walk", counted)
    assert decoder.decode_data(frame, "") == [BlockStart(0, kind), BlockDelta(0, "first")]
    assert walked == []  # opened without the walk
    assert kind in decoder._templates  # and learned
    parsed = counted_parses(monkeypatch, _decoder, "_loads_bytes")
    for text in (" second", ' "third"', "\n"):
        assert decoder.decode_data(frame.replace(b'"first"', json.dumps(text).encode()), "") == (0, text)
    assert parsed == []  # the template read them all
