"""OpenAI's error envelope (``{"error": {"message", "type", "param", "code"}}``), both ways.

Chat Completions and Responses share it, so the one implementation lives in
:mod:`asgi_translate.schemas._openai_common`; this module gives it the place every spoke has.
"""

from __future__ import annotations

from .._openai_common import parse_error, render_error

__all__ = ["parse_error", "render_error"]
