"""Per-model settings by name: exact names first, then glob patterns in order, then a default.

:class:`ModelMap` renames models on the way up; :class:`MaxTokensCap` caps ``max_tokens`` for
servers whose context is smaller than what clients ask for (Claude Code asks 32,000-128,000).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

from ._hub.canonical import Request


class ModelMap:
    """``{"claude-sonnet-4-5": "Qwen/Qwen3-8B", "claude-*": "Qwen/Qwen3-8B", "*": "default"}``.

    Keys with ``*``, ``?`` or ``[`` are glob patterns, tried in the order given after every exact
    key; ``"*"`` therefore acts as the default. A name nothing matches goes up unchanged.
    """

    __slots__ = ("_exact", "_patterns")

    def __init__(self, mapping: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = list(mapping.items()) if isinstance(mapping, Mapping) else list(mapping)
        self._exact = {key: value for key, value in items if not _is_pattern(key)}
        self._patterns = [(key, value) for key, value in items if _is_pattern(key)]

    def __bool__(self) -> bool:
        return bool(self._exact or self._patterns)

    def __call__(self, model: str) -> str:
        if model in self._exact:
            return self._exact[model]
        for pattern, target in self._patterns:
            if fnmatch.fnmatchcase(model, pattern):
                return target
        return model

    def aliases(self) -> list[tuple[str, str]]:
        """The exact client-facing names with the upstream names they stand for (model lists show them)."""
        return list(self._exact.items())

    @classmethod
    def parse(cls, spec: str) -> ModelMap:
        """Parse the command line form ``"claude-*=Qwen/Qwen3-8B,gpt-4o=llama,*=default"``."""
        pairs: list[tuple[str, str]] = []
        for item in spec.split(","):
            if not item.strip():
                continue
            source, sep, target = item.partition("=")
            if not sep or not source.strip() or not target.strip():
                raise ValueError(f"model map entry {item!r} is not of the form NAME=UPSTREAM_NAME")
            pairs.append((source.strip(), target.strip()))
        return cls(pairs)


def _is_pattern(key: str) -> bool:
    return any(char in key for char in "*?[")


class MaxTokensCap:
    """``{"claude-*": 8192, "*": 16384}`` or one number for every model: the largest ``max_tokens``
    sent up. Looked up by the name the client asked for, then by the upstream's name, with the
    rules of :class:`ModelMap`; a model nothing matches is not capped."""

    __slots__ = ("_exact", "_patterns")

    def __init__(self, caps: int | Mapping[str, int] | Iterable[tuple[str, int]] = ()) -> None:
        items = [("*", caps)] if isinstance(caps, int) else list(caps.items() if isinstance(caps, Mapping) else caps)
        for name, cap in items:
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                raise ValueError(f"max_tokens cap for {name!r} must be a positive integer, got {cap!r}")
        self._exact = {key: value for key, value in items if not _is_pattern(key)}
        self._patterns = [(key, value) for key, value in items if _is_pattern(key)]

    def __bool__(self) -> bool:
        return bool(self._exact or self._patterns)

    def __call__(self, *names: str) -> int | None:
        for name in names:
            if name in self._exact:
                return self._exact[name]
        for name in names:
            for pattern, cap in self._patterns:
                if fnmatch.fnmatchcase(name, pattern):
                    return cap
        return None

    def apply(self, request: Request, client_model: str) -> int | None:
        """Lower ``request.max_tokens`` to the cap for its model, noting the coercion; returns the
        cap (``None``: not capped), which also bounds the default sent to a Messages upstream."""
        if not self._exact and not self._patterns:  # no caps configured: the usual case
            return None
        cap = self(client_model, request.model)
        if cap is not None and request.max_tokens is not None and request.max_tokens > cap:
            request.losses.append(f"max_tokens {request.max_tokens} coerced to {cap} (max_tokens_cap)")
            request.max_tokens = cap
        return cap

    @classmethod
    def parse(cls, spec: str) -> MaxTokensCap:
        """Parse the command line form ``"8192"`` or ``"claude-*=8192,*=16384"``."""
        if spec.strip().isdigit():
            return cls(int(spec))
        pairs: list[tuple[str, int]] = []
        for item in spec.split(","):
            if not item.strip():
                continue
            name, sep, cap = item.partition("=")
            if not sep or not name.strip() or not cap.strip().isdigit():
                raise ValueError(f"max_tokens cap entry {item!r} is not of the form MODEL=N")
            pairs.append((name.strip(), int(cap)))
        return cls(pairs)
