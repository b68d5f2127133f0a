"""A stream's repeated delta frame, read by slicing instead of parsing.

An upstream writes most of its frames as the same bytes around one changing string: a chat
server's ``{"id":...,"choices":[{"index":0,"delta":{"content":"<text>"},...}],...}`` differs
from one chunk to the next only in ``<text>`` (and, from OpenAI, a random ``obfuscation``
value). Parsing such a frame whole builds a dozen objects only to read one string, and costs
more than everything else the frame needs. So once a decoder has parsed a frame and found it to
be a text delta, :func:`learn` keeps the bytes before and after its text as a
:class:`FrameTemplate`; a later frame that is those same bytes around another JSON string is
that delta with that text, which :meth:`FrameTemplate.text_of` cuts out and parses alone.

Exact by construction, not by guess: a template is kept only after a probe, the template with
a marker in its text slot (and another in its free slot) parsed by the decoder's own JSON parser
and read by the decoder's own reader, which must give the marker back. A frame the template
accepts differs from the probe only inside those two strings: the text slot parses alone as one
JSON string, the free slot holds letters and digits. So the frame parses to the same structure
with another string in the same place, and the reader would have answered that string. Every
other frame (bytes the parser refuses, a different field) misses and is parsed whole, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .json import dumpb, loads_bytes

#: What the probe puts in the text slot: plain ASCII, so it needs no escape either way.
_MARK = "asgi-translate-probe"
_MARK_BYTES = _MARK.encode()


class FrameTemplate:
    """The bytes of a frame around its text: ``head + text + tail [+ free + end]`` (``tail``
    opens with the text's closing quote).

    ``free`` slot: the value of a top-level key the reader never reads (OpenAI's
    ``obfuscation``, different in every frame), accepted when it is ASCII letters and digits."""

    __slots__ = ("head", "tail", "end", "_start")

    def __init__(self, head: bytes, tail: bytes, end: bytes | None) -> None:
        self.head = head  # up to and including the text's opening quote
        self.tail = tail  # from the text's closing quote to the free value's opening quote, or the frame's end
        self.end = end  # from the free value's closing quote to the frame's end; None: no free slot
        self._start = len(head)

    def text_of(self, data: bytes) -> str | None:
        """The text of ``data`` when it is this template around other strings, else None (parse it).

        The text's end is found from the frame's end, whose bytes are known (the free value
        holds no quote), so a text with quotes in it is read too; parsed alone, it must then be
        one JSON string, which it is not if it holds an unescaped quote."""
        if not data.startswith(self.head):
            return None
        tail, end = self.tail, self.end
        if end is None:
            close = len(data) - len(tail)
            if not data.endswith(tail):
                return None
        else:
            free_end = len(data) - len(end)
            opening = data.rfind(b'"', self._start, free_end)  # the free value's opening quote
            close = opening + 1 - len(tail)
            if not data.endswith(end) or not data.startswith(tail, close):
                return None
            free = data[opening + 1 : free_end]
            if free and not free.isalnum():
                return None
        if close <= self._start:  # no text (or the head and tail overlap)
            return None
        try:  # the slot with its quotes (the head's last byte, the tail's first), parsed alone:
            # the JSON parser checks the string itself (quotes, escapes, control characters, UTF-8)
            text: str = loads_bytes(data[self._start - 1 : close + 1])
        except ValueError:
            return None
        return text


def learn(data: bytes, text: str, read: Callable[[Any], str | None], free: str | None) -> FrameTemplate | None:
    """The template of ``data``, a frame whose text ``read`` (the decoder's reader of a parsed
    frame) found to be ``text``; None when the frame has no template this module can prove (the
    text is written another way or appears twice, or the probe does not give the marker back).
    ``free`` names a top-level key that ``read`` ignores and whose value changes from frame to
    frame."""
    slot = dumpb(text)  # as the upstream wrote it, when it escapes what orjson escapes, as most do
    at = data.find(slot)
    if at < 0 or data.find(slot, at + 1) >= 0:
        return None
    head, rest = data[: at + 1], data[at + len(slot) - 1 :]
    template = FrameTemplate(head, rest, None)
    free_value = b""
    if free is not None:
        key = b'"' + free.encode() + b'":"'
        key_at = rest.rfind(key)
        if key_at >= 0:
            free_start = key_at + len(key)
            free_end = rest.find(b'"', free_start)
            free_value = rest[free_start:free_end]
            if free_end > 0 and (not free_value or free_value.isalnum()):
                template = FrameTemplate(head, rest[:free_start], rest[free_end:])
    probe_free = b"probe" if free_value != b"probe" else b"probf"
    probe = head + _MARK_BYTES + (template.tail if template.end is None else template.tail + probe_free + template.end)
    try:
        value = loads_bytes(probe)
    except ValueError:
        return None
    if read(value) != _MARK:
        return None
    if template.end is not None and (type(value) is not dict or value.get(free) != probe_free.decode()):
        return None
    return template
