"""Self-contained HTML for reports: escaped tables and inline PNG charts, no CDN.

Reports must render offline and be safe to open, so everything is escaped and embedded
(charts as data: URIs); nothing is fetched when the page is viewed.

Charts are drawn with matplotlib's object API, never ``pyplot``: agents render reports in
threads, and pyplot's current-figure state and figure registry are shared, unlocked,
across all of them. A ``Figure`` with its own Agg canvas belongs to one call alone.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["bar_chart", "figure_png", "new_figure", "page", "paragraph", "table"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;
color:#1d2433;line-height:1.5}h1{font-size:1.6rem}h2{margin-top:2rem;font-size:1.2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #d5dae3;
padding:.3rem .6rem;text-align:left;font-size:.9rem}th{background:#f1f4f9}
.flag{color:#a4262c;font-weight:600}.muted{color:#5b6474}img{max-width:100%}
"""


def page(title: str, sections: Iterable[str]) -> str:
    body = "\n".join(sections)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def paragraph(text: str, cls: str = "") -> str:
    klass = f" class='{cls}'" if cls else ""
    return f"<p{klass}>{html.escape(text)}</p>"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return paragraph("(none)", "muted")
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas; garbage-collected like any object, nothing to close."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, alt: str = "chart") -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode()
    return f"<img alt='{html.escape(alt, quote=True)}' src='data:image/png;base64,{data}'>"


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    xlabel: str = "",
    threshold: float | None = None,
) -> str:
    fig = new_figure(7, max(1.8, 0.35 * len(labels) + 0.8))
    ax = fig.subplots()
    ax.barh([str(x) for x in labels][::-1], list(values)[::-1], color="#3b6fb6")
    if threshold is not None:
        ax.axvline(threshold, color="#a4262c", linestyle="--", linewidth=1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return figure_png(fig, title)
