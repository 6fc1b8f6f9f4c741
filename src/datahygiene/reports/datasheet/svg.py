"""Small hand-written SVG charts: stacked histograms with thresholds, horizontal bar charts."""

from __future__ import annotations

from html import escape

from datahygiene.reports.datasheet.model import Histogram

KEPT = "#4878a8"
REMOVED = "#e07b39"
THRESHOLD = "#b03030"
_FONT = 'font-family="sans-serif" font-size="11"'


def _tick(value: float) -> str:
    return f"{value:.3g}"


def histogram(h: Histogram, width: int = 420, height: int = 200) -> str:
    """Kept and removed counts stacked per bin, thresholds as dashed vertical lines."""
    left, right, top, bottom = 44, 10, 22, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [k + r for k, r in zip(h.kept, h.removed, strict=True)]
    peak = max(max(totals, default=0), 1)
    bar_w = plot_w / len(totals)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="histogram of {escape(h.column)}" class="chart">',
        f'<text x="{left}" y="14" {_FONT} font-weight="bold">{escape(h.column)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>',
        f'<text x="{left - 4}" y="{top + 4}" {_FONT} text-anchor="end">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" {_FONT} text-anchor="end">0</text>',
    ]
    edges = h.edges
    for index, (kept, removed) in enumerate(zip(h.kept, h.removed, strict=True)):
        x = left + index * bar_w
        kept_h = plot_h * kept / peak
        removed_h = plot_h * removed / peak
        label = f"{_tick(edges[index])} to {_tick(edges[index + 1])}: {kept} kept, {removed} removed"
        parts.append(f"<g><title>{escape(label)}</title>")
        if kept:
            y = top + plot_h - kept_h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{kept_h:.1f}" fill="{KEPT}"/>')
        if removed:
            y = top + plot_h - kept_h - removed_h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{removed_h:.1f}" fill="{REMOVED}"/>'
            )
        parts.append("</g>")
    for value, anchor in ((h.lo, "start"), ((h.lo + h.hi) / 2, "middle"), (h.hi, "end")):
        x = left + plot_w * (value - h.lo) / (h.hi - h.lo)
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" {_FONT} text-anchor="{anchor}">{_tick(value)}</text>')
    for threshold in h.thresholds:
        if not h.lo <= threshold.value <= h.hi:
            continue
        x = left + plot_w * (threshold.value - h.lo) / (h.hi - h.lo)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{THRESHOLD}" '
            f'stroke-width="2" stroke-dasharray="4 3" class="threshold"><title>{escape(threshold.reason)}: '
            f"{escape(threshold.op)} {threshold.value:g} → {escape(threshold.action)}</title></line>"
        )
        parts.append(
            f'<text x="{x + 3:.1f}" y="{top + 6}" {_FONT} fill="{THRESHOLD}">'
            f"{escape(threshold.op)} {threshold.value:g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bars(items: list[tuple[str, int, int]], width: int = 520, label_width: int = 190) -> str:
    """Horizontal bars of (label, kept-or-count, removed) pairs, stacked."""
    row_h, top = 20, 4
    height = top * 2 + row_h * max(len(items), 1)
    peak = max((a + b for _, a, b in items), default=0) or 1
    plot_w = width - label_width - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" class="chart">']
    for index, (label, first, second) in enumerate(items):
        y = top + index * row_h
        short = label if len(label) <= 30 else label[:29] + "…"
        first_w, second_w = plot_w * first / peak, plot_w * second / peak
        parts.append(f"<g><title>{escape(label)}: {first + second}</title>")
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 14}" {_FONT} text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{first_w:.1f}" height="{row_h - 6}" fill="{REMOVED}"/>'
            f'<rect x="{label_width + first_w:.1f}" y="{y + 3}" width="{second_w:.1f}" height="{row_h - 6}" '
            f'fill="{KEPT}"/>'
            f'<text x="{label_width + first_w + second_w + 4:.1f}" y="{y + 14}" {_FONT}>{first + second:,}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
