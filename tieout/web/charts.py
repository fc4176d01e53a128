"""Charts drawn on the server as SVG: AR aging as stacked bars, DSO as lines, counts as bars.

No chart library and no JavaScript: each chart is markup with a title and a description for
screen readers, and the page shows the same figures in a table beside it. Amounts in different
currencies are never drawn on one scale: the aging chart has one panel per currency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

from tieout.money import Money
from tieout.web.formatting import amount, day

BUCKET_COLOURS = ("#2f7d4f", "#8fb84a", "#e0b323", "#e07b24", "#c23b2f")
LINE_COLOURS = ("#1f5fa8", "#c2571a", "#2f7d4f", "#7a4fb0", "#b03060", "#4a7d8c")


@dataclass(frozen=True)
class AgingBar:
    label: str
    currency: str
    buckets: tuple[Money, ...]

    @property
    def total(self) -> Decimal:
        return sum((bucket.amount for bucket in self.buckets), Decimal(0))


def _text(x: float, y: float, content: str, *, anchor: str = "start", css: str = "chart-label") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(content)}</text>'


def aging_chart(bars: Sequence[AgingBar], bucket_names: Sequence[str], *, chart_id: str) -> Markup:
    """Stacked horizontal bars, one per row, all in one currency (the caller groups by currency)."""
    label_width, width, bar_height, gap = 170.0, 640.0, 22.0, 12.0
    plot_width = width - label_width - 110
    largest = max((bar.total for bar in bars), default=Decimal(0)) or Decimal(1)
    height = 34 + len(bars) * (bar_height + gap) + 28
    currency = bars[0].currency if bars else ""
    parts = [
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">Open AR in {escape(currency)} by age</title>',
        f'<desc id="{chart_id}-desc">Stacked bars per subsidiary; the table below gives the figures.</desc>',
    ]
    x = label_width
    for index, name in enumerate(bucket_names):
        parts.append(f'<rect x="{x:.1f}" y="6" width="12" height="12" fill="{BUCKET_COLOURS[index]}"/>')
        parts.append(_text(x + 16, 16, name if name != "current" else "not yet due"))
        x += 92
    for row, bar in enumerate(bars):
        y = 34 + row * (bar_height + gap)
        parts.append(_text(label_width - 8, y + bar_height * 0.7, bar.label, anchor="end"))
        x = label_width
        for index, bucket in enumerate(bar.buckets):
            share = float(bucket.amount / largest) if bucket.amount > 0 else 0.0
            span = share * plot_width
            if span > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{span:.1f}" height="{bar_height:.0f}" '
                    f'fill="{BUCKET_COLOURS[index]}"><title>{escape(bar.label)}, {escape(bucket_names[index])}: '
                    f"{escape(amount(bucket.amount, bar.currency))} {escape(bar.currency)}</title></rect>"
                )
            x += span
        parts.append(_text(x + 6, y + bar_height * 0.7, f"{amount(bar.total, bar.currency)} {bar.currency}"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in `parts` went through escape()


def line_chart(series: Mapping[str, Sequence[tuple[date, Decimal]]], *, chart_id: str, unit: str) -> Markup:
    """One line per series over dates; the y axis starts at zero."""
    width, height, left, right, top, bottom = 700.0, 260.0, 48.0, 230.0, 16.0, 30.0
    points = [point for values in series.values() for point in values]
    if not points:
        return Markup("")
    first = min(point[0] for point in points)
    last = max(point[0] for point in points)
    span_days = max((last - first).days, 1)
    top_value = max(float(point[1]) for point in points) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(when: date, value: Decimal) -> tuple[float, float]:
        return left + plot_w * (when - first).days / span_days, top + plot_h * (1 - float(value) / top_value)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(unit)} over time</title>',
        f'<desc id="{chart_id}-desc">One line per subsidiary and currency, from {escape(day(first))} '
        f"to {escape(day(last))}; the table gives the latest figures.</desc>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>',
        _text(left - 6, top + 4, f"{top_value:.0f}", anchor="end"),
        _text(left - 6, top + plot_h, "0", anchor="end"),
        _text(left, height - 8, day(first)),
        _text(left + plot_w, height - 8, day(last), anchor="end"),
    ]
    for index, (name, values) in enumerate(series.items()):
        colour = LINE_COLOURS[index % len(LINE_COLOURS)]
        coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(when, value) for when, value in values))
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for when, value in values[-1:]:
            x, y = xy(when, value)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        legend_y = top + 14 + index * 18
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{legend_y - 9}" width="12" height="4" fill="{colour}"/>'
        )
        parts.append(_text(left + plot_w + 28, legend_y - 3, name))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in `parts` went through escape()


def count_bar(count: int, largest: int) -> Markup:
    """A small bar for a count in a table cell (the number is printed beside it)."""
    width = 120 * count / largest if largest else 0
    return Markup(  # noqa: S704 - only a number is interpolated
        f'<svg class="bar" viewBox="0 0 120 10" width="120" height="10" aria-hidden="true" '
        f'xmlns="http://www.w3.org/2000/svg"><rect width="{width:.1f}" height="10" rx="2"/></svg>'
    )
