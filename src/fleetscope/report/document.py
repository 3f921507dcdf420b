"""The report as one self-contained HTML file (plots inlined as base64 PNG, CSS inline), and the
same HTML printed to PDF by WeasyPrint. A one-page summary comes first (score, status, the
three worst findings, host facts), then a page per subsystem.

Severity and status are always spelled out in words and marked by border style as well as
colour, so a black-and-white print loses nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape

from fleetscope import __version__
from fleetscope.report.analysis import Analysis
from fleetscope.report.charts import render_plot
from fleetscope.report.findings import SEVERITY_RANK, Finding, Row, Subsystem, fmt_time

STATUS_WORDS = {
    "success": "Fit",
    "primary": "Fit, with notes",
    "warning": "At risk",
    "danger": "Not fit",
    "info": "Not enough data",
}
STATUS_COLOURS = {
    "success": "#1e7b34",
    "primary": "#0b5ed7",
    "warning": "#b35c00",
    "danger": "#b02a37",
    "info": "#41464b",
}

_CSS = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page) " / " counter(pages);
  font-size: 8pt; color: #444; } }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 9.5pt; color: #111; margin: 0;
  max-width: 210mm; }
h1 { font-size: 17pt; margin: 0 0 2mm; } h2 { font-size: 13pt; margin: 0 0 3mm;
  border-bottom: 1.5pt solid #111; padding-bottom: 1mm; }
.page { break-before: page; } .page:first-of-type { break-before: avoid; }
.score { display: flex; gap: 6mm; align-items: center; margin: 4mm 0; }
.fit { font-size: 40pt; font-weight: bold; border: 2.5pt solid; padding: 1mm 5mm; }
.status { font-size: 15pt; font-weight: bold; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0 4mm; }
th, td { border: 0.6pt solid #777; padding: 1mm 2mm; text-align: left; vertical-align: top; }
th { background: #eee; }
.sev { font-weight: bold; white-space: nowrap; }
.critical { border-left: 4pt solid #b02a37; } .warning { border-left: 4pt dashed #b35c00; }
.info, .ok { border-left: 4pt dotted #777; }
.finding { padding: 1mm 3mm; margin: 0 0 2mm; break-inside: avoid; }
.finding p { margin: 0.5mm 0; } .facts { color: #333; }
img { width: 100%; break-inside: avoid; } .muted { color: #555; }
"""


def _finding_html(f: Finding) -> str:
    facts = "; ".join(f"{escape(x.label)}: {escape(x.value)}" for x in f.facts)
    when = (
        f"<p class=muted>When: {fmt_time(f.window_start)} to {fmt_time(f.window_end)}</p>"
        if f.window_start is not None
        else ""
    )
    driver = f"<p>Driven by process group <b>{escape(f.driver)}</b>.</p>" if f.driver else ""
    return (
        f'<div class="finding {f.severity}"><p><span class=sev>{f.severity.upper()}</span> '
        f"[{escape(f.subsystem)} / {escape(f.resource)}] {escape(f.title)}</p>"
        f"<p class=facts>{facts}</p>{when}{driver}"
        f"<p><i>Recommendation:</i> {escape(f.recommendation)}</p></div>"
    )


def _table(rows: list[Row]) -> str:
    if len(rows) < 2:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _worst_severity(s: Subsystem) -> str:
    return max((f.severity for f in s.findings), key=lambda v: SEVERITY_RANK[v], default="ok")


def _summary(a: Analysis) -> str:
    colour = STATUS_COLOURS[a.status]
    worst = a.worst()
    worst_html = (
        "".join(_finding_html(f) for f in worst)
        if worst
        else "<p>No warning or critical finding: nothing needs attention.</p>"
    )
    facts = _table([("fact", "value"), *((x.label, x.value) for x in a.host_facts)])
    overview = _table(
        [
            ("subsystem", "worst severity", "problems", "checks"),
            *(
                (
                    s.title,
                    _worst_severity(s).upper(),
                    str(sum(SEVERITY_RANK[f.severity] >= 2 for f in s.findings)),
                    str(len(s.findings)),
                )
                for s in a.subsystems
            ),
        ]
    )
    interval = f"{a.interval_seconds:g} s" if a.interval_seconds else "n/a"
    return (
        f'<section class="page"><h1>Performance analysis: {escape(a.hostname)}</h1>'
        f"<p class=muted>{fmt_time(a.start)} to {fmt_time(a.end)}; {a.snapshots:,} snapshots "
        f"every {interval}</p>"
        f'<div class=score><div class=fit style="color:{colour}">{a.fit}</div>'
        f'<div><div class=status style="color:{colour}">{STATUS_WORDS[a.status]}</div>'
        f"<div class=muted>fitness score out of 100; status {a.status}</div></div></div>"
        f"<h2>Worst findings</h2>{worst_html}<h2>Host</h2>{facts}"
        f"<h2>Subsystems</h2>{overview}</section>"
    )


def _subsystem(a: Analysis, s: Subsystem) -> str:
    problems = [f for f in s.findings if SEVERITY_RANK[f.severity] >= 2]
    passed = [f for f in s.findings if SEVERITY_RANK[f.severity] < 2]
    plots = "".join(
        f'<img alt="{escape(p.title)}" src="data:image/png;base64,'
        f'{base64.b64encode(render_plot(p, a.ts)).decode()}">'
        for p in s.plots
        if len(a.ts) > 1
    )
    passed_rows: list[Row] = [("check", "resource", "result")]
    passed_rows += [(f.check, f.resource, f"{f.severity.upper()}: {f.title}") for f in passed]
    note = f"<p class=muted>{escape(s.note)}</p>" if s.note else ""
    return (
        f'<section class="page"><h2>{escape(s.title)}</h2>{note}'
        + ("".join(_finding_html(f) for f in problems) or "<p>No problem found.</p>")
        + plots
        + _table(s.table)
        + _table(passed_rows)
        + "</section>"
    )


def render_html(a: Analysis, progress: Callable[[str], None] | None = None) -> str:
    pages = [_summary(a)]
    for s in a.subsystems:
        if progress is not None:
            progress(s.name)
        pages.append(_subsystem(a, s))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(a.hostname)}: fitness {a.fit} ({a.status})</title>"
        f"<meta name=generator content='fleetscope {escape(__version__)}'>"
        f"<style>{_CSS}</style></head><body>{''.join(pages)}</body></html>"
    )


def render_pdf(html: str) -> bytes:
    # Imported here: WeasyPrint loads Pango through cffi, a slow import
    # (docs/code-choices.md) that only PDF output should pay.
    from weasyprint import HTML  # noqa: PLC0415

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
