"""Model renaming on the way up: exact names first, then glob patterns in order, then a default."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping


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
