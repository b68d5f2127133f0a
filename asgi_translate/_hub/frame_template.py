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

#: What a free value may hold (bytes.isalnum's letters and digits): text_of strips them.
_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

#: What the probe puts in the text slot: plain ASCII, so it needs no escape either way.
_MARK = "asgi-translate-probe"
_MARK_BYTES = _MARK.encode()

#: ``learn``'s default: no parsed value was given, so the probe decides.
_UNPARSED: Any = object()


class FrameTemplate:
    """The bytes of a frame around its text: ``head + text + tail [+ free + end]`` (``tail``
    opens with the text's closing quote).

    ``free`` slot: the value of a top-level key the reader never reads (OpenAI's
    ``obfuscation``, different in every frame), accepted when it is ASCII letters and digits."""

    __slots__ = ("head", "tail", "end", "_lead", "_trail")

    def __init__(self, head: bytes, tail: bytes, end: bytes | None) -> None:
        self.head = head  # up to and including the text's opening quote
        self.tail = tail  # from the text's closing quote to the free value's opening quote, or the frame's end
        self.end = end  # from the free value's closing quote to the frame's end; None: no free slot
        #: The head and tail less the text's quotes: what text_of peels off, leaving the slot.
        #: A tail of one quote leaves nothing to peel, and text_of then misses every frame.
        self._lead, self._trail = head[:-1], tail[1:]

    def text_of(self, data: bytes) -> str | None:
        """The text of ``data`` when it is this template around other strings, else None (parse it).

        The frame is peeled from both ends: the head (less the text's opening quote), then the
        end, the free value (letters and digits) and the tail (less the text's closing quote),
        which leaves the text slot with its quotes, parsed alone: it must be one JSON string,
        which it is not if it holds an unescaped quote, so a text with quotes in it is read too.
        ``removeprefix``, ``removesuffix`` and ``rstrip`` each take their argument with no
        argument parsing and give back the same object when there is nothing to remove: about
        half the instructions of ``startswith``, ``endswith`` and ``rfind`` with bounds, which
        parse theirs on every call, and this runs for nearly every frame."""
        slot = data.removeprefix(self._lead)
        if slot is data:
            return None
        end = self.end
        if end is not None:
            rest = slot.removesuffix(end)
            if rest is slot:
                return None
            slot = rest.rstrip(_ALNUM)  # the free value: what rstrip takes off
        quoted = slot.removesuffix(self._trail)
        if quoted is slot:
            return None
        try:  # the JSON parser checks the string itself (quotes, escapes, control characters, UTF-8)
            text: str = loads_bytes(quoted)  # (a lone quote, where head and tail overlap, is no JSON)
        except ValueError:
            return None
        return text or None  # no text: the frame is parsed, as the reader answers none for it

    def texts_of_run(self, frames: list[bytes], start: int) -> list[str] | None:
        """What :meth:`text_of` answers for each of the frames ``frames[start:]`` opens with (at
        most :data:`_WINDOW`), up to the first that is not this template around other strings;
        ``None`` when the first is not, ``[]`` when one of those that are is not read exactly
        this way (then read them one by one).

        One run of a stream's repeated frame, read with fewer calls than one by one: each frame
        is peeled as :meth:`text_of` peels it, but of the head and tail whole (their quotes
        too), which leaves its text slot without quotes, and the slots are parsed together as
        one JSON array: ``'["' + '",\\n"'.join(slots) + '"]'``. A JSON string cannot hold a raw
        line break, so a slot that is not exactly one JSON string's inside fails the parse or
        adds an element, and an array of as many strings as frames holds each slot's string as
        ``text_of`` parses it (with its quotes). Each frame so read is the template around other
        strings, which the module docstring proves the reader would answer."""
        slots = self._slots(frames, start)
        if not slots:  # most calls: the first frame is another
            return None
        return _strings(slots)

    def _slots(self, frames: list[bytes], start: int) -> list[bytes]:
        """The text slots of the frames ``frames[start:]`` opens with that peel as ``head + slot
        + tail [+ free + end]``, in text_of's order (``free``: letters and digits, what ``rstrip``
        takes off, and all it can: the tail ends with a quote)."""
        head, tail, end = self.head, self.tail, self.end
        slots: list[bytes] = []
        if not self._trail:  # as text_of: such a template reads no frame
            return slots
        for frame in frames[start : start + _WINDOW]:
            rest = frame.removeprefix(head)
            if rest is frame:
                break
            if end is not None:
                cut = rest.removesuffix(end)
                if cut is rest:
                    break
                rest = cut.rstrip(_ALNUM)
            text = rest.removesuffix(tail)
            if text is rest:
                break
            slots.append(text)
        return slots


def _strings(slots: list[bytes]) -> list[str]:
    """The strings of the text slots (``[]`` when one is not exactly one JSON string), up to the
    first empty one (text_of answers None for no text, and the frame is parsed): one parse of
    them as an array, whose elements are separated by ``",\\n"`` (see texts_of_run)."""
    try:
        texts: list[str] = loads_bytes(b'["' + b'",\n"'.join(slots) + b'"]')
    except ValueError:
        return []
    if len(texts) != len(slots):
        return []
    if "" in texts:
        return texts[: texts.index("")]
    return texts


#: At most this many frames are read as one run: what a failed run costs stays bounded.
_WINDOW = 64


def learn(
    data: bytes, text: str, read: Callable[[Any], str | None], free: str | None, parsed: Any = _UNPARSED
) -> FrameTemplate | None:
    """The template of ``data``, a frame whose text ``read`` (the decoder's reader of a parsed
    frame) found to be ``text``; None when the frame has no template this module can prove (the
    text is written another way or appears twice, or the probe does not give the marker back).
    ``free`` names a top-level key that ``read`` ignores and whose value changes from frame to
    frame. ``parsed``, when given, is ``data`` parsed: a frame that :func:`_proved_as_parsed`
    proves needs no probe."""
    slot = dumpb(text)  # as the upstream wrote it, when it escapes what orjson escapes, as most do
    at = data.find(slot)
    if at < 0 or data.find(slot, at + 1) >= 0:
        return None
    head, tail, end = data[: at + 1], data[at + len(slot) - 1 :], None
    free_value = b""
    if free is not None:
        key = b'"' + free.encode() + b'":"'
        key_at = tail.rfind(key)
        if key_at >= 0:
            free_start = key_at + len(key)
            free_end = tail.find(b'"', free_start)
            free_value = tail[free_start:free_end]
            if free_end > 0 and (not free_value or free_value.isalnum()):
                tail, end = tail[:free_start], tail[free_end:]
    template = FrameTemplate(head, tail, end)
    proved_free = None if end is None else free_value
    if parsed is not _UNPARSED and _proved_as_parsed(data, slot, text, read, parsed, free, proved_free):
        return template
    probe_free = b"probe" if free_value != b"probe" else b"probf"
    probe = head + _MARK_BYTES + (tail if end is None else tail + probe_free + end)
    try:
        value = loads_bytes(probe)
    except ValueError:
        return None
    if read(value) != _MARK:
        return None
    if template.end is not None and (type(value) is not dict or value.get(free) != probe_free.decode()):
        return None
    return template


def _proved_as_parsed(
    data: bytes,
    slot: bytes,
    text: str,
    read: Callable[[Any], str | None],
    parsed: Any,
    free: str | None,
    free_value: bytes | None,
) -> bool:
    """Whether ``data`` (parsed: ``parsed``) proves its template without a probe, whose parse
    costs about 10,000 instructions on the frame that opens each block of every stream.

    The proof needs every backslash of the frame to be in ``slot`` (``dumpb(text)``, which
    ``learn`` found once in it): none, in most frames; the text's own escapes (a quote, a line
    break, the ``{\\"`` that opens nearly every call's arguments) in the rest. Then the string
    ``read`` answered, one of the parsed value's (both decoders' readers answer one as it is),
    is written at the slot. Written with no backslash, it is its UTF-8 between two quotes, what
    ``dumpb`` writes for a string that needs no escape: the slot's bytes, found once. Written
    with one, it holds one of the slot's backslashes, so it overlaps the slot; it cannot open
    before it (the slot's opening quote, with no backslash before it, would close it first),
    nor inside it (each quote inside the slot follows a backslash, which is no JSON outside a
    string; the closing quote is followed by none of the slot's bytes): it opens where the slot
    does, and the slot, a whole JSON string, is what it is. The free slot is the top-level key's
    value when that value is the slot's bytes and the key's name is written once in the frame:
    the top-level key is written somewhere, with no backslash (only the slot has any), so that
    once is the one ``learn`` cut."""
    if (92 in data and data.count(b"\\") != slot.count(b"\\")) or read(parsed) != text:  # 92: a backslash
        return False
    if free_value is None:
        return True
    assert free is not None
    return (
        type(parsed) is dict
        and parsed.get(free) == free_value.decode()
        and data.count(b'"' + free.encode() + b'"') == 1
    )
