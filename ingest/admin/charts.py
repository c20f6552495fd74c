"""Small server-rendered SVG charts for the freshness dashboard: no JavaScript, no CDN.

Every value drawn is a number formatted here, and every tooltip is an hour label and a duration
or count formatted here (digits, units, dashes and colons only); the one free text, the title,
goes through ``escape``. The output is marked safe only once assembled from those parts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ingest.services.observing.durations import format_seconds

WIDTH, HEIGHT = 340, 96
# The lag axis ends on these (seconds): 0.1 s, 1 s, 10 s, 1 min, 10 min, 1 h, 6 h, 1 d, 7 d, 30 d.
LAG_SCALE = (0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 21600.0, 86400.0, 604800.0, 2592000.0)
LEFT, RIGHT, TOP, BOTTOM = 44, 6, 8, 18


@lru_cache(maxsize=8)
def _hour_labels(hours: tuple[datetime, ...]) -> tuple[str, ...]:
    # Nine streams share one axis: format it once.
    return tuple(h.strftime("%Y-%m-%d %H:00") for h in hours)


def _x(i: int, n: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * (i + 0.5) / n if n else 0)


def _frame(title: str, body: list[str], css: str, y_labels: list[tuple[float, str]], hours: Sequence[datetime]) -> str:
    parts = [
        f'<svg class="ingest-chart {css}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}"/>',
    ]
    for y, label in y_labels:
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 3}" y="{y + 3:.1f}" text-anchor="end">{escape(label)}</text>')
    if hours:
        first, last = hours[0], hours[-1]
        fmt = "%H:%M" if len(hours) <= 48 else "%m-%d"
        parts.append(f'<text class="tick" x="{LEFT}" y="{HEIGHT - 4}">{escape(first.strftime(fmt))}</text>')
        parts.append(
            f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">'
            f"{escape(last.strftime(fmt))}</text>"
        )
    parts.extend(body)
    parts.append("</svg>")
    return "".join(parts)


def rows_chart(title: str, hours: Sequence[datetime], rows: Sequence[int], *, tooltips: bool = True) -> SafeString:
    """Bars: rows written per hour. With ``tooltips`` each bar says its hour and count; without
    (the week's 168 bars) the bars are one path, to keep the page small."""
    n = len(rows)
    top = max(rows) if rows else 0
    scale = max(top, 1)
    plot_h = HEIGHT - TOP - BOTTOM
    bar_w = max(0.6, (WIDTH - LEFT - RIGHT) / max(n, 1) - 0.4)
    labels = _hour_labels(tuple(hours))
    body = []
    path = []
    for i, value in enumerate(rows):
        if not value:
            continue
        h = plot_h * value / scale
        x = _x(i, n) - bar_w / 2
        if tooltips:
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                f"<title>{labels[i]}: {int(value)} rows</title></rect>"
            )
        else:
            path.append(f"M{x:.1f} {HEIGHT - BOTTOM}v{-h:.1f}h{bar_w:.1f}v{h:.1f}z")
    if path:
        body.append(f'<path class="bar" d="{"".join(path)}"/>')
    if not top:
        body.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no rows</text>')
    labels_y: list[tuple[float, str]] = [(TOP, f"{top:,}"), (HEIGHT - BOTTOM, "0")] if top else []
    return mark_safe(_frame(title, body, "ingest-chart--rows", labels_y, hours))  # noqa: S308 - built from escaped parts


def _log_y(value: float, low: float, high: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    v = min(max(value, low), high)
    return HEIGHT - BOTTOM - plot_h * (math.log10(v) - math.log10(low)) / (math.log10(high) - math.log10(low))


def lag_chart(
    title: str,
    hours: Sequence[datetime],
    p50: Sequence[float | None],
    p95: Sequence[float | None],
    *,
    tooltips: bool = True,
) -> SafeString:
    """Lines on a log scale: event-to-row lag p50 and p95 per hour (gaps where nothing was imported).
    With ``tooltips`` every hour is a dot that says its value; without, only lone hours get a dot."""
    n = len(hours)
    values = [v for v in (*p50, *p95) if v is not None]
    body = []
    labels: list[tuple[float, str]] = []
    if values:
        low = max([step for step in LAG_SCALE if step <= min(values)], default=LAG_SCALE[0])
        high = min([step for step in LAG_SCALE if step >= max(values) and step > low], default=low * 10)
        hour_labels = _hour_labels(tuple(hours))
        for series, css in ((p95, "p95"), (p50, "p50")):
            segments: list[list[str]] = [[]]
            for i, value in enumerate(series):
                if value is None:
                    if segments[-1]:
                        segments.append([])
                    continue
                point = f"{_x(i, n):.1f},{_log_y(value, low, high):.1f}"
                segments[-1].append(point)
                if tooltips:
                    cx, cy = point.split(",")
                    body.append(
                        f'<circle class="dot {css}" cx="{cx}" cy="{cy}" r="1.2">'
                        f"<title>{hour_labels[i]}: {css} {format_seconds(value)}</title></circle>"
                    )
            for points in segments:
                if len(points) > 1:
                    body.append(f'<polyline class="line {css}" points="{" ".join(points)}"/>')
                elif points and not tooltips:
                    cx, cy = points[0].split(",")
                    body.append(f'<circle class="dot {css}" cx="{cx}" cy="{cy}" r="1.2"/>')
        labels = [(TOP, format_seconds(high)), (HEIGHT - BOTTOM, format_seconds(low))]
    else:
        body.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no events</text>')
    return mark_safe(_frame(title, body, "ingest-chart--lag", labels, hours))  # noqa: S308 - built from escaped parts
