"""Charts as inline SVG, drawn on the server: no script, no CDN, and the numbers on hover (``<title>``)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def bars(points: Sequence[tuple[str, float]], *, title: str, width: int = 900, height: int = 220,
         unit: str = "") -> str:
    """A bar chart of (label, value) points; every bar says its label and value when hovered."""
    if not points:
        return f'<p class="muted">{escape(title)}: no data yet.</p>'
    top = max(v for _, v in points) or 1
    left, bottom, gap = 36, 28, 2
    step = (width - left) / len(points)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">']
    for fraction in (0.5, 1.0):
        y = height - bottom - fraction * (height - bottom - 10)
        out.append(f'<text x="0" y="{y + 4:.0f}">{_fmt(top * fraction)}</text>')
    for i, (label, value) in enumerate(points):
        h = (value / top) * (height - bottom - 10)
        x = left + i * step
        out.append(f'<rect class="bar" x="{x:.1f}" y="{height - bottom - h:.1f}" width="{max(step - gap, 1):.1f}" '
                   f'height="{h:.1f}"><title>{escape(str(label))}: {_fmt(value)}{escape(unit)}</title></rect>')
    every = max(1, len(points) // 8)
    for i in range(0, len(points), every):
        out.append(f'<text x="{left + i * step:.1f}" y="{height - 8}">{escape(str(points[i][0]))}</text>')
    out.append("</svg>")
    return "".join(out)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
