"""Server-rendered SVG charts for the operations screen: no script and no chart library to
serve, print as they show, readable by a screen reader (each has a title and a text table
beside it on the page). Values are rates (0..1) drawn as percentages. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

OK, BAD, NEUTRAL, TARGET = "#1e7b34", "#b3261e", "#7b8794", "#123c69"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: no data in the period
    target: float | None = None
    met: bool | None = None


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _colour(bar: Bar) -> str:
    return NEUTRAL if bar.met is None else OK if bar.met else BAD


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 600, no_data: str = "—") -> Markup:
    """Horizontal bars, one per label, each with its target as a dark tick; green when met,
    red when missed, grey without a target."""
    label_w, row_h, pad = 190, 26, 8
    plot_w = width - label_w - 70
    height = pad * 2 + row_h * max(len(bars), 1)
    scale = max([1.0, *(b.value or 0 for b in bars), *(b.target or 0 for b in bars)])
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, bar in enumerate(bars):
        y = pad + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" font-size="13">'
            f"{escape(bar.label)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="{row_h - 8}" fill="#eef2f7"/>'
        )
        if bar.value is not None:
            w = plot_w * bar.value / scale
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}"'
                f' fill="{_colour(bar)}"/>'
            )
        if bar.target is not None:
            x = label_w + plot_w * bar.target / scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + row_h - 1}"'
                f' stroke="{TARGET}" stroke-width="3"/>'
            )
        shown = _pct(bar.value) if bar.value is not None else no_data
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + 17}" font-size="13">{shown}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    target: float | None = None,
    lower_is_better: bool = False,
    width: int = 600,
    height: int = 220,
) -> Markup:
    """One KPI over consecutive periods (gaps where a period has no data), the target dashed."""
    left, right, top, bottom = 48, 34, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, v in points if v is not None]
    high = max([1.0, *values, target or 0])
    step = plot_w / max(len(points) - 1, 1)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - v / high)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for frac in (0, 0.5, 1):
        y = y_of(high * frac)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#cbd2d9"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{_pct(high * frac)}</text>"
        )
    if target is not None:
        y = y_of(target)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{TARGET}"'
            ' stroke-width="2" stroke-dasharray="6 4"/>'
        )
    path: list[str] = []
    for i, (label, value) in enumerate(points):
        x = left + i * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" font-size="11">'
            f"{escape(label)}</text>"
        )
        if value is None:
            path.append("")  # a gap
            continue
        path.append(f"{x:.1f},{y_of(value):.1f}")
        met = target is None or (value <= target if lower_is_better else value >= target)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y_of(value):.1f}" r="4" fill="{OK if met else BAD}"/>'
        )
    for segment in " ".join(path).split("  "):
        if segment.strip():
            parts.append(
                f'<polyline points="{segment.strip()}" fill="none" stroke="{TARGET}"'
                ' stroke-width="2"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
