"""Small helpers for benchmark scripts: percentiles, unit formatting and plain/Markdown tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Distribution of one measured quantity (same unit as the samples)."""

    n: int
    p50: float
    p99: float
    mean: float
    min: float
    max: float


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        n=len(values),
        p50=percentile(values, 50),
        p99=percentile(values, 99),
        mean=statistics.fmean(values),
        min=min(values),
        max=max(values),
    )


def ms(seconds: float) -> str:
    """Seconds as milliseconds, with precision that suits the magnitude."""
    if math.isnan(seconds):
        return "-"
    value = seconds * 1000
    if value < 10:
        return f"{value:.2f} ms"
    if value < 100:
        return f"{value:.1f} ms"
    return f"{value:.0f} ms"


def size(n_bytes: float) -> str:
    """Bytes in B, KiB or MiB."""
    if math.isnan(n_bytes):
        return "-"
    if n_bytes < 1024:
        return f"{n_bytes:.0f} B"
    if n_bytes < 1024 * 1024:
        return f"{n_bytes / 1024:.1f} KiB"
    return f"{n_bytes / (1024 * 1024):.1f} MiB"


def rate(per_second: float) -> str:
    return "-" if math.isnan(per_second) else f"{per_second:,.0f}/s"


def ratio(value: float, baseline: float) -> str:
    """`value / baseline` as "2.3x" (or "-" when undefined)."""
    if not baseline or math.isnan(value) or math.isnan(baseline):
        return "-"
    return f"{value / baseline:.1f}x" if value / baseline < 100 else f"{value / baseline:.0f}x"


class Table:
    """Rows of strings, rendered as an aligned text table or a Markdown table."""

    def __init__(self, title: str, headers: Sequence[str]) -> None:
        self.title = title
        self.headers = list(headers)
        self.rows: list[list[str]] = []

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{self.title}: row has {len(cells)} cells, table has {len(self.headers)}")
        self.rows.append([str(c) for c in cells])

    def text(self) -> str:
        widths = [max(len(r[i]) for r in [self.headers, *self.rows]) for i in range(len(self.headers))]

        def line(cells: Sequence[str]) -> str:
            first, *rest = cells
            parts = [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
            return "  ".join(parts).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        return "\n".join([self.title, rule, line(self.headers), rule, *map(line, self.rows), rule])

    def markdown(self) -> str:
        head = "| " + " | ".join(self.headers) + " |"
        align = "|" + "|".join([":---", *(["---:"] * (len(self.headers) - 1))]) + "|"
        body = ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join([f"**{self.title}**", "", head, align, *body])


@dataclass
class Report:
    """Tables in print order, headline figures for the summary, and notes on what looked off."""

    tables: list[Table] = field(default_factory=list)
    headline: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    read_p50: dict[str, float] = field(default_factory=dict)  # for the breakdown of a read call

    def add(self, table: Table) -> None:
        self.tables.append(table)
        print(table.text(), end="\n\n", flush=True)
