"""One structured log line per translated exchange, and the request id that ties it together.

The line goes to the standard ``logging`` logger ``"asgi_translate"`` once, when the exchange
ends (clean end, error envelope, mid-stream failure or client gone), as ``key=value`` pairs that
grep and log shippers both read; the same fields ride on the record as ``record.asgi_translate``
for JSON formatters. INFO for answers below 500, WARNING otherwise.

The request id is the client's ``x-request-id`` when it is a sane token, or a fresh uuid4: it is
echoed in a response header and in logs, so arbitrary client bytes are never trusted there. It
never appears in response bodies, so it needs no injectable id factory for deterministic tests.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
from typing import Any

logger = logging.getLogger("asgi_translate")

#: ``error`` of an exchange whose client went away before the response was complete.
CLIENT_DISCONNECTED = "client_disconnected"

# Visible ASCII without quotes or separators, as request ids from proxies and SDKs look.
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# Values printed bare; anything else is JSON-quoted so that a client-chosen model name can
# neither forge another key=value pair nor start a new log line.
_BARE = re.compile(r"[A-Za-z0-9._:/+=@*-]{1,200}")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's ``x-request-id`` when well-formed, else a new random id."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            return request_id_for(value)
    return _uuid4_hex()


def request_id_for(value: bytes | None) -> str:
    """The id for a client's first ``x-request-id`` value (``None``: it sent none), for a caller
    that has read the headers already."""
    if value is not None:
        text = value.decode("latin-1")
        if _SANE_ID.fullmatch(text):
            return text
    return _uuid4_hex()


def _uuid4_hex() -> str:
    """``uuid.uuid4().hex`` without building a UUID object (a third of the cost, before every
    exchange's first byte): 16 random bytes with the version 4 and RFC 4122 variant bits set."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


@functools.lru_cache(maxsize=512)
def _format_text(text: str) -> str:
    """A string field as the line shows it. Cached: routes, schema names and models repeat on
    every line (request ids do not, and only cost a slot each in a bounded cache)."""
    return text if _BARE.fullmatch(text) else json.dumps(text[:200])


class ExchangeLog:
    """Counters for one exchange, filled in by the middleware, written once by :meth:`emit`."""

    __slots__ = (
        "request_id",
        "route",
        "client",
        "upstream",
        "model",
        "status",
        "frames_in",
        "lines_out",
        "frame_lines",
        "bytes_out",
        "upstream_request_id",
        "error",
        "losses",
        "_started",
        "_emitted",
    )

    def __init__(self, request_id: str, route: str, client: str, upstream: str) -> None:
        self.request_id = request_id
        self.route = route
        self.client = client
        self.upstream = upstream
        self.model = ""
        self.status = 0
        self.frames_in = 0
        #: Line ends in the SSE frames sent, each of which has ``frame_lines`` of them (the client
        #: codec's: see :attr:`~asgi_translate.schemas.Codec.frame_lines`). Counting line ends is
        #: what the send path does per chunk; a blank line, two bytes, took three times as long.
        self.lines_out = 0
        self.frame_lines = 2
        self.bytes_out = 0
        self.upstream_request_id = ""
        #: Why the exchange failed, when it did (error type or a short reason).
        self.error = ""
        #: Client fields the translation dropped or coerced (the x-asgi-translate-losses header).
        self.losses: list[str] = []
        self._started = time.perf_counter()
        self._emitted = False

    def sent(self, body: bytes, *, stream: bool) -> None:
        """Count bytes (and the line ends of SSE frames, see :attr:`lines_out`) sent to the client."""
        self.bytes_out += len(body)
        if stream:
            self.lines_out += body.count(b"\n")

    @property
    def frames_out(self) -> int:
        """SSE frames sent: each frame the client's encoder writes has the same number of lines."""
        return self.lines_out // self.frame_lines

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "request_id": self.request_id,
            "route": self.route,
            "client": self.client,
            "upstream": self.upstream,
            "model": self.model,
            "status": self.status,
            "duration_ms": round((time.perf_counter() - self._started) * 1000, 1),
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "bytes_out": self.bytes_out,
        }
        if self.upstream_request_id:
            fields["upstream_request_id"] = self.upstream_request_id
        if self.error:
            fields["error"] = self.error
        if self.losses:
            fields["losses"] = "; ".join(self.losses)
        return fields

    def _line(self, fields: dict[str, Any]) -> str:
        """The fields as ``key=value`` pairs, in :meth:`fields`' order, written out in one f-string
        (a loop that formats each value by its type cost a third of the line's instructions).

        Numbers are printed as they are; the request id too, which :func:`request_id_for` makes
        sane (it is unique per exchange, so the cache of :func:`_format_text` would only miss);
        every other string, the client's model name above all, goes through :func:`_format_text`."""
        line = (
            f"request_id={self.request_id} route={_format_text(self.route)} client={_format_text(self.client)}"
            f" upstream={_format_text(self.upstream)} model={_format_text(self.model)} status={self.status}"
            f" duration_ms={fields['duration_ms']} frames_in={self.frames_in} frames_out={fields['frames_out']}"
            f" bytes_out={self.bytes_out}"
        )
        if self.upstream_request_id:
            line += f" upstream_request_id={_format_text(self.upstream_request_id)}"
        if self.error:
            line += f" error={_format_text(self.error)}"
        if self.losses:
            line += f" losses={_format_text(fields['losses'])}"
        return line

    def emit(self) -> None:
        """Write the line; later calls do nothing, so every exit path may call it.

        The record is made and handed to the logger directly, as ``logger.log`` would after
        looking up its caller: that lookup (a walk up the stack, a path normalized per frame) was
        a third of the line's cost, paid on every exchange, and the caller is always this method."""
        if self._emitted:
            return
        self._emitted = True
        # A client's bad request is routine; our or the upstream's failure (a 5xx, no answer at
        # all, a stream that ended in its failure form) is worth a look.
        failed = self.status >= 500 or self.status == 0 or (self.error and self.status < 400)
        if self.error == CLIENT_DISCONNECTED:  # the client's choice, not a failure of ours or the upstream's
            failed = False
        level = logging.WARNING if failed else logging.INFO
        if logger.isEnabledFor(level):
            fields = self.fields()
            line = self._line(fields)
            record = logger.makeRecord(
                logger.name, level, _HERE, _LINE, "asgi_translate %s", (line,), None, "emit", {"asgi_translate": fields}
            )
            logger.handle(record)


#: Where the line is written from, as the record's pathname and lineno (what ``logger.log`` finds).
_HERE = ExchangeLog.emit.__code__.co_filename
_LINE = ExchangeLog.emit.__code__.co_firstlineno
