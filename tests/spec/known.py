"""Violations in code another open issue is changing: reported at the end of the run, not failed.

These are bugs, not quirks (the real API does not do this): each names the issue whose code
produces it, so the owner can fix it and delete the entry. A violation matching no entry here, and
no quirk in :mod:`spec.quirks`, fails its test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    #: A regular expression searched in the violation's text.
    pattern: str
    issue: int
    why: str

    def matches(self, violation: str) -> bool:
        return re.search(self.pattern, violation) is not None


KNOWN: tuple[Known, ...] = ()


def known(violation: str) -> Known | None:
    return next((entry for entry in KNOWN if entry.matches(violation)), None)
