"""Server-rendered SVG charts for the operations screen: no script and no chart library to
serve, print as they show, readable by a screen reader (each has a title and a text table
beside it on the page). Values are rates (0..1) drawn as percentages. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from unicodedata import east_asian_width

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


# A label's width at font-size 13 (no font metrics on the server): a wide (CJK) character
# takes the em, any other the width of an average Latin letter. The label column is as wide as
# the widest label, up to `MAX_LABEL_W`; a longer label is set on two lines.
FONT, WIDE_CHAR, NARROW_CHAR = 13, 13.0, 6.8
MIN_LABEL_W, MAX_LABEL_W = 120, 260
ROW_H, LINE_H, PAD = 26, 15, 8


def text_width(text: str) -> float:
    return sum(WIDE_CHAR if east_asian_width(c) in "WF" else NARROW_CHAR for c in text)


def label_lines(label: str, room: float) -> list[str]:
    """`label` on one line if it fits `room`, else on two: split at the space (or, in text
    without spaces, the character) that leaves the longer line shortest; on more when two
    lines do not fit either (words, or characters, as many to a line as fit)."""
    if text_width(label) <= room:
        return [label]
    spaces = [i for i, c in enumerate(label) if c == " "]
    cuts = [(i, i + 1) for i in spaces] or [(i, i) for i in range(1, len(label))]
    cut, resume = min(cuts, key=lambda c: max(text_width(label[: c[0]]), text_width(label[c[1] :])))
    two = [label[:cut], label[resume:]]
    if max(map(text_width, two)) <= room:
        return two
    sep = " " if spaces else ""
    lines: list[str] = []
    for token in label.split(" ") if spaces else list(label):
        if lines and text_width(lines[-1] + sep + token) <= room:
            lines[-1] += sep + token
        else:
            lines.append(token)
    return lines


def _label(lines: list[str], x: float, y: float) -> str:
    """The label's text, its last line on the bar's baseline (`y`), the lines before it above."""
    top = y - LINE_H * (len(lines) - 1)
    spans = "".join(
        f'<tspan x="{x}" y="{top + i * LINE_H:.0f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text text-anchor="end" font-size="{FONT}">{spans}</text>'


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 600, no_data: str = "—") -> Markup:
    """Horizontal bars, one per label, each with its target as a dark tick; green when met,
    red when missed, grey without a target. A label too long for its column takes two lines
    and its row is as much taller."""
    room = MAX_LABEL_W - 6
    lines = [label_lines(bar.label, room) for bar in bars]
    widest = max([text_width(line) for ls in lines for line in ls], default=0.0)
    # a tenth more than the estimate: a line of wide Latin letters (Unknown department, 18
    # letters) is wider than that many average ones, and was cut at the left
    label_w = int(min(MAX_LABEL_W, max(MIN_LABEL_W, widest * 1.1 + 10)))
    plot_w = width - label_w - 70
    rows = [ROW_H + LINE_H * (len(ls) - 1) for ls in lines]
    height = PAD * 2 + max(sum(rows), ROW_H)
    scale = max([1.0, *(b.value or 0 for b in bars), *(b.target or 0 for b in bars)])
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    top = PAD
    for bar, bar_lines, row in zip(bars, lines, rows, strict=True):
        y = top + row - ROW_H  # the bar sits at the foot of its row, beside the label's last line
        top += row
        parts.append(
            _label(bar_lines, label_w - 6, y + 17)
            + f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="{ROW_H - 8}" fill="#eef2f7"/>'
        )
        if bar.value is not None:
            w = plot_w * bar.value / scale
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}"'
                f' fill="{_colour(bar)}"/>'
            )
        if bar.target is not None:
            x = label_w + plot_w * bar.target / scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + ROW_H - 1}"'
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
