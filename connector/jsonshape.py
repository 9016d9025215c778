"""The shape of parsed JSON, measured without recursion (pure).

A hostile body can nest deeper than Python's recursion limit allows any recursive walker to go;
these helpers never recurse, so they are safe on any body the parser accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def nesting_depth(doc: Any, stop_at: int) -> int:
    """How deeply ``doc`` nests (a scalar is 0), counted up to ``stop_at`` + 1; no recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > stop_at:
                return deepest
        stack.extend((child, depth) for child in children if isinstance(child, (dict, list)))
    return deepest
