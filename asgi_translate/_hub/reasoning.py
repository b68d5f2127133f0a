"""OpenAI's reasoning effort scale against Anthropic's thinking budget, in one documented table.

The efforts are the spec's (``ReasoningEffort``: none, minimal, low, medium, high, xhigh, max);
``none`` is no thinking. The README's mapping table quotes these numbers. Budgets start at 1,024
tokens, Anthropic's minimum, and double up to ``xhigh``; ``max`` is the largest, as large as leaves
the default 4,096-token answer room under the 64,000-token output cap of current Claude models.
Going the other way, a budget maps to the highest effort whose budget it reaches.
"""

from __future__ import annotations

BUDGET_BY_EFFORT: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 57344,
}

MIN_BUDGET = 1024


def budget_for_effort(effort: str) -> int | None:
    """Thinking budget for an effort level; ``None`` for ``"none"`` (thinking off)."""
    if effort == "none":
        return None
    return BUDGET_BY_EFFORT.get(effort, BUDGET_BY_EFFORT["medium"])


def effort_for_budget(budget: int) -> str:
    """The effort level a thinking budget stands for (``low`` at the least: few chat servers
    accept ``minimal``)."""
    effort = "low"
    for name in ("medium", "high", "xhigh", "max"):
        if budget >= BUDGET_BY_EFFORT[name]:
            effort = name
    return effort
