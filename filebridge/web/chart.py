"""A connection's nights as a small SVG drawn on the server: people in the file as a
line (left scale), changes applied as bars (right scale)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from filebridge.pipeline.overview import Night

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 28, 40


def _y(value: int, top: int, scale_max: int) -> float:
    inner = HEIGHT - TOP - BOTTOM
    return TOP + inner - (inner * value / scale_max if scale_max else 0)


def night_chart(connection: str, nights: list[Night]) -> str:
    """The SVG document for ``nights`` of ``connection`` (every text escaped)."""
    title = f"{connection}: people and changes per night"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={quoteattr(title)}>',
             f"<title>{escape(title)}</title>",
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
             f'<text x="{LEFT}" y="16" font-family="sans-serif" font-size="12" '
             f'fill="#333">{escape(title)}</text>']
    if not nights:
        parts.append(f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" '
                     'font-family="sans-serif" font-size="13" fill="#777">no applied import '
                     "in the last 30 days</text></svg>")
        return "".join(parts)
    people_max = max(n.people for n in nights) or 1
    changes_max = max(n.changes for n in nights) or 1
    inner_w = WIDTH - LEFT - RIGHT
    step = inner_w / len(nights)
    bar = max(2.0, min(step * 0.6, 40.0))
    base = HEIGHT - BOTTOM
    parts.append(f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" '
                 'stroke="#999"/>')
    points = []
    for i, n in enumerate(nights):
        cx = LEFT + step * (i + 0.5)
        top = _y(n.changes, TOP, changes_max)
        parts.append(f'<rect class="changes" x="{cx - bar / 2:.1f}" y="{top:.1f}" '
                     f'width="{bar:.1f}" height="{base - top:.1f}" fill="#f0a35e">'
                     f"<title>{n.day.isoformat()}: {n.changes} changes</title></rect>")
        py = _y(n.people, TOP, people_max)
        points.append(f"{cx:.1f},{py:.1f}")
        parts.append(f'<circle class="people" cx="{cx:.1f}" cy="{py:.1f}" r="3" '
                     f'fill="#2b6cb0"><title>{n.day.isoformat()}: {n.people} people'
                     "</title></circle>")
        if len(nights) <= 10 or i in (0, len(nights) - 1):
            parts.append(f'<text x="{cx:.1f}" y="{base + 14}" text-anchor="middle" '
                         f'font-family="sans-serif" font-size="10" fill="#555">'
                         f"{n.day.strftime('%m-%d')}</text>")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#2b6cb0" '
                 'stroke-width="2"/>')
    parts += [f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-family="sans-serif" '
              f'font-size="10" fill="#2b6cb0">{people_max}</text>',
              f'<text x="{LEFT - 6}" y="{base}" text-anchor="end" font-family="sans-serif" '
              'font-size="10" fill="#2b6cb0">0</text>',
              f'<text x="{WIDTH - RIGHT + 6}" y="{TOP + 4}" font-family="sans-serif" '
              f'font-size="10" fill="#c05621">{changes_max}</text>',
              f'<text x="{LEFT}" y="{HEIGHT - 6}" font-family="sans-serif" font-size="11" '
              'fill="#2b6cb0">— people in the file</text>',
              f'<text x="{LEFT + 170}" y="{HEIGHT - 6}" font-family="sans-serif" '
              'font-size="11" fill="#c05621">▮ changes applied</text>', "</svg>"]
    return "".join(parts)
