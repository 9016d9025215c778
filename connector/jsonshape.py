"""The shape of parsed JSON, measured without recursion (pure).

A hostile body can nest deeper than Python's recursion limit allows any recursive walker to go;
these helpers never recurse, so they are safe on any body the parser accepted.
"""

from __future__ import annotations

from typing import Any


def nesting_depth(doc: Any, stop_at: int) -> int:
    """How deeply ``doc`` nests (a scalar is 0), counted up to ``stop_at`` + 1; no recursion.

    Level by level, each level's containers in one list: on a real order this is about twice
    as fast as a stack of (value, depth) pairs, and triage runs it on every body.
    """
    level = [doc] if isinstance(doc, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > stop_at:
            return depth
        below: list[Any] = []
        for value in level:
            for child in value.values() if isinstance(value, dict) else value:
                if isinstance(child, (dict, list)):
                    below.append(child)
        level = below
    return depth
