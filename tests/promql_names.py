"""What a PromQL expression reads: its metric names, each with the job it is scoped to and the
label names it relies on. Enough of PromQL for the expressions in deploy/ (selectors, functions,
aggregations with by/without, offset, ranges, binary operators): every identifier that is not a
function, keyword or label is a metric name — so a misspelt metric is caught, not skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


@dataclass
class MetricUse:
    name: str
    job: str | None = None  # from a job="..." matcher
    labels: set[str] = field(default_factory=set)


def metric_uses(expr: str) -> list[MetricUse]:
    uses: list[MetricUse] = []
    grouping: set[str] = {label.strip() for _, labels in _GROUPING.findall(expr) for label in labels.split(",") if label.strip()}
    text = _GROUPING.sub(" ", expr)

    def selector(match: re.Match[str]) -> str:
        name, body = match[1], match[2]
        matchers = [m for m in (_MATCHER.fullmatch(part) for part in _split_matchers(body)) if m]
        use = MetricUse(name or "", labels={m[1] for m in matchers})
        use.job = next((m[3] for m in matchers if m[1] == "job" and m[2] == "="), None)
        uses.append(use)
        return " "

    text = _SELECTOR.sub(selector, text)
    text = _STRING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\boffset\s+\w+", " ", text)
    for match in _IDENT.finditer(text):
        word, rest = match[0], text[match.end():].lstrip()
        if word in KEYWORDS or rest.startswith("(") or re.fullmatch(r"\d.*|[eE]\d+|Inf|NaN", word):
            continue
        uses.append(MetricUse(word))
    for use in uses:
        use.labels |= grouping - {"job", "instance"}
        use.labels -= {"job", "instance"}  # target labels, added by Prometheus
    return [use for use in uses if use.name]


def _split_matchers(body: str) -> list[str]:
    parts, depth, current = [], False, ""
    for char in body:
        if char == '"':
            depth = not depth
        if char == "," and not depth:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in [*parts, current] if p.strip()]
