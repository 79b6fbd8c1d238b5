"""The report's page (DESIGN §14): plotly figures drawn from the report's document (collect/report.py), in one HTML file.

Self-contained: plotly's script is inlined once, the document and each figure are JSON script
elements, and a few lines of script hand each figure to Plotly.newPlot (and sort the leaderboard).
Nothing random: element ids are fixed and plotly's figure JSON has no uids, so the same document
gives the same bytes; the one line that differs between two pages of the same reads is the
`generated` line. Scatter plots use WebGL traces (scattergl) so that 10,000 runs draw quickly.

plotly is the optional extra `report`: it is imported only here, and only by `spawn-tf report`.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from spawn_tf.collect.report import DATA_ELEMENT_ID, RUNNING, params_and_metric
from spawn_tf.errors import SpawnError
from spawn_tf.refine import LOG_SPAN

PLOT_CLASS = "spawn-plot"  # every figure's container
FIGURE_CLASS = "spawn-figure"  # every figure's script element (packed JSON); data-target names its container
PACKED_TYPE = "application/gzip"  # script elements the browser does not run: base64 of gzipped JSON (`pack`)
GENERATED_CLASS = "generated"
TICK_NAMES_UP_TO = 60  # runs named on the timeline's axis; beyond, the hover names them
EARLY_STOPPED = "early-stopped"
# One colour per status and attempt outcome, the same in every figure.
COLOURS = {"success": "#2ca02c", "failed": "#d62728", "stopped": "#9467bd", "timeout": "#8c564b", "interrupted": "#ff7f0e",
           "exhausted": "#7f7f7f", "cancelled": "#bcbd22", "running": "#1f77b4", "pending": "#c7c7c7", "unknown": "#000000",
           "lost": "#e377c2", EARLY_STOPPED: "#d62728", "runs": "#1f77b4"}  # fmt: skip
_CONFIG = {"displaylogo": False, "responsive": True}


def plotly() -> Any:
    """plotly.graph_objects, or an error that names the extra to install."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise SpawnError("spawn-tf report draws with plotly, which is not installed", "pip install 'spawn-tf[report]'") from None
    return go


def figures(document: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(element id, title, plotly figure) of every plot, in the page's order."""
    go = plotly()
    found: list[tuple[str, str, Any]] = []
    names, rows = params_and_metric(document)
    ranking = document.get("ranking")
    if rows and ranking:
        found.append(("plot-parallel", f"Parameters and {ranking['metric']}", parallel(go, names, rows, ranking)))
        found += [(f"plot-param-{position}", f"{ranking['metric']} against {name}", against(go, name, rows, ranking))
                  for position, name in enumerate(names)]  # fmt: skip
    for position, metric in enumerate(document["curves"]):
        found.append((f"plot-curve-{position}", f"Learning curves: {metric}", learning_curves(go, document, metric)))
    found.append(("plot-timeline", "Attempts", timeline(go, document)))
    found.append(("plot-placement", "Runs per region and instance type", placement(go, document["placement"])))
    return found


# --- figures -----------------------------------------------------------------------------------


def log_spanning(values: Sequence[Any]) -> bool:
    """Positive numbers spanning more than two decades: drawn on a log axis (refine spaces them in log too)."""
    numbers = [value for value in values if _number(value)]
    return len(numbers) == len(values) > 0 and min(numbers) > 0 and max(numbers) / min(numbers) > LOG_SPAN


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _dimension(name: str, values: list[Any]) -> dict[str, Any]:
    """A parallel-coordinates axis: numbers as they are (log10 with decade ticks when they span decades), anything else as categories."""
    if values and all(_number(value) for value in values):
        if not log_spanning(values):
            return {"label": name, "values": values}
        logs = [math.log10(value) for value in values]
        decades = list(range(math.floor(min(logs)), math.ceil(max(logs)) + 1))
        return {"label": f"{name} (log)", "values": logs, "tickvals": decades, "ticktext": [f"1e{decade}" for decade in decades]}
    labels = [_label(value) for value in values]
    categories = sorted(set(labels))
    code = {label: position for position, label in enumerate(categories)}
    return {"label": name, "values": [code[label] for label in labels], "tickvals": list(range(len(categories))), "ticktext": categories}


def _label(value: Any) -> str:
    return "(none)" if value is None else value if isinstance(value, str) else json.dumps(value)


def parallel(go: Any, names: Sequence[str], rows: Sequence[tuple[Mapping[str, Any], float, str]], ranking: Mapping[str, Any]) -> Any:
    """Every parameter of every ranked run against the metric; the lines coloured by it, the best the brightest."""
    metric = [value for _, value, _ in rows]
    dimensions = [_dimension(name, [params.get(name) for params, _, _ in rows]) for name in names]
    dimensions.append({"label": ranking["metric"], "values": metric})
    line = {"color": metric, "colorscale": "Viridis", "showscale": True, "reversescale": ranking["mode"] == "min"}
    figure = go.Figure(go.Parcoords(line=line, dimensions=dimensions))
    figure.update_layout(margin={"l": 60, "r": 60, "t": 50, "b": 30}, height=420)
    return figure


def against(go: Any, name: str, rows: Sequence[tuple[Mapping[str, Any], float, str]], ranking: Mapping[str, Any]) -> Any:
    """The metric against one parameter; a log axis when the parameter spans more than two decades."""
    values = [params.get(name) for params, _, _ in rows]
    numeric = all(_number(value) for value in values)
    x = values if numeric else [_label(value) for value in values]
    trace = go.Scattergl(x=x, y=[value for _, value, _ in rows], text=[run for _, _, run in rows], mode="markers",
                         hovertemplate="%{text}<br>" + name + "=%{x}<br>" + ranking["metric"] + "=%{y}<extra></extra>")  # fmt: skip
    figure = go.Figure(trace)
    xaxis: dict[str, Any] = {
        "title": {"text": name},
        "type": "log" if numeric and log_spanning(values) else "linear" if numeric else "category",
    }
    figure.update_layout(xaxis=xaxis, yaxis={"title": {"text": ranking["metric"]}}, height=340, margin={"t": 30})
    return figure


def learning_curves(go: Any, document: Mapping[str, Any], metric: str) -> Any:
    """Each run's reports of `metric` by step: early-stopped runs apart, with a mark at their stop step."""
    stops = {item["run"]: item["early_stop"] for item in document["status"]["instances"] if item.get("early_stop")}
    groups: dict[str, tuple[list[Any], list[Any], list[Any]]] = {"runs": ([], [], []), EARLY_STOPPED: ([], [], [])}
    marks: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    for run, points in document["curves"][metric].items():
        x, y, text = groups[EARLY_STOPPED if run in stops else "runs"]
        x += [step for step, _ in points] + [None]
        y += [value for _, value in points] + [None]
        text += [run] * len(points) + [None]
        at = dict(points).get(stops[run]["step"]) if run in stops else None
        if at is not None:
            marks[0].append(stops[run]["step"])
            marks[1].append(at)
            marks[2].append(f"{run}: stopped at step {stops[run]['step']}")
    traces = [go.Scattergl(x=x, y=y, text=text, name=name, mode="lines+markers", line={"color": COLOURS[name], "width": 1},
                           marker={"size": 3}, hovertemplate="%{text}<br>step %{x}: %{y}<extra></extra>")
              for name, (x, y, text) in groups.items() if x]  # fmt: skip
    if marks[0]:
        traces.append(go.Scattergl(x=marks[0], y=marks[1], text=marks[2], name="stop step", mode="markers",
                                   marker={"symbol": "x", "size": 10, "color": COLOURS[EARLY_STOPPED]}, hovertemplate="%{text}<extra></extra>"))  # fmt: skip
    figure = go.Figure(traces)
    figure.update_layout(xaxis={"title": {"text": "step"}}, yaxis={"title": {"text": metric}}, height=380, margin={"t": 30})
    return figure


def timeline(go: Any, document: Mapping[str, Any]) -> Any:
    """One line per attempt, from its start to its outcome, by outcome: one still going ends at the newest time read,
    a lost one (no outcome, its instance gone) is a mark at its start."""
    runs = [item["run"] for item in document["status"]["instances"]]
    row = {run: position for position, run in enumerate(runs)}
    by_outcome: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
    for run, attempts in document["attempts"].items():
        for number, attempt in enumerate(attempts, 1):
            x, y, text = by_outcome.setdefault(attempt["outcome"], ([], [], []))
            label = (
                f"{run} attempt {number}: {attempt['outcome']}, {attempt['region']}, {attempt['instance_type']}, {attempt['instance_id']}"
            )
            x += [attempt["began"], attempt["ended"] or (document["as_of"] if attempt["outcome"] == RUNNING else attempt["began"]), None]
            y += [row[run], row[run], None]
            text += [label, label, None]
    traces = [go.Scattergl(x=x, y=y, text=text, name=outcome, mode="lines+markers", line={"color": COLOURS.get(outcome), "width": 4},
                           marker={"size": 5}, hovertemplate="%{text}<extra></extra>")
              for outcome, (x, y, text) in sorted(by_outcome.items())]  # fmt: skip
    figure = go.Figure(traces)
    yaxis: dict[str, Any] = {"title": {"text": "run"}, "autorange": "reversed"}
    if len(runs) <= TICK_NAMES_UP_TO:
        yaxis |= {"tickvals": list(range(len(runs))), "ticktext": runs}
    figure.update_layout(xaxis={"title": {"text": "time (UTC)"}, "type": "date"}, yaxis=yaxis, margin={"t": 30},
                         height=max(300, min(900, 40 + 18 * len(runs))))  # fmt: skip
    return figure


def placement(go: Any, counts: Mapping[str, Mapping[str, Mapping[str, int]]]) -> Any:
    """Runs per region and per instance type, stacked by status."""
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=("by region", "by instance type"))
    statuses = sorted({status for tallies in counts.values() for tally in tallies.values() for status in tally})
    for column, kind in enumerate(("region", "instance_type"), 1):
        places = list(counts[kind])
        for status in statuses:
            figure.add_trace(go.Bar(x=places, y=[counts[kind][place].get(status, 0) for place in places], name=status, legendgroup=status,
                                    showlegend=column == 1, marker={"color": COLOURS.get(status)}), row=1, col=column)  # fmt: skip
    figure.update_layout(barmode="stack", height=340, margin={"t": 40})
    return figure


# --- the page ----------------------------------------------------------------------------------


def page(document: Mapping[str, Any], generated: str) -> str:
    """The whole HTML file: header, leaderboard, every figure, the document; `generated` is the one line that varies."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    drawn = figures(document)
    sections = "\n".join(
        f'<section><h2>{html.escape(title)}</h2><div class="{PLOT_CLASS}" id="{element}"></div></section>' for element, title, _ in drawn
    )
    scripts = "\n".join(f'<script type="{PACKED_TYPE}" class="{FIGURE_CLASS}" data-target="{element}">{pack(pio.to_json(figure, engine="json"))}</script>'
                        for element, _, figure in drawn)  # fmt: skip
    data = pack(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>spawn-tf report: {html.escape(document['sweep'])}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        *header(document, generated),
        leaderboard(document),
        sections,
        f'<script type="{PACKED_TYPE}" id="{DATA_ELEMENT_ID}">{data}</script>',
        scripts,
        f"<script>{_DRAW}</script>",
        "</body></html>",
        "",
    ])  # fmt: skip


def pack(text: str) -> str:
    """JSON as the page holds it: gzip (no time in its header: the same text gives the same bytes), then base64.

    Compressed, the document and the figures' arrays of a 10,000-run sweep take a tenth of their JSON
    (the page stays far under 15 MB); base64 has no character HTML would read inside a <script>.
    """
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=6, mtime=0)).decode("ascii")


def unpack(text: str) -> Any:
    """The JSON value of a packed script element's text (the page's script does the same with DecompressionStream)."""
    return json.loads(gzip.decompress(base64.b64decode(text)))


def header(document: Mapping[str, Any], generated: str) -> list[str]:
    """The sweep, where it reports, its status and counts, the cost when prices are known, what could not be read; and when."""
    status = document["status"]
    counts = ", ".join(f"{count} {name}" for name, count in status["counts"].items())
    lines = [f"<header><h1>sweep {html.escape(document['sweep'])}</h1>",
             f'<p class="{GENERATED_CLASS}">generated {html.escape(generated)}</p>',
             f"<p>results: <code>{html.escape(status['results'])}</code></p>",
             f"<p>status: <b>{html.escape(status['status'])}</b> ({status['total']} runs: {html.escape(counts)})</p>"]  # fmt: skip
    if document["cost"] is not None:
        lines.append(f"<p>cost: {html.escape(cost_line(document['cost']))}</p>")
    problems = [*status["problems"], *(document["ranking"] or {}).get("problems", [])]
    lines += [f'<p class="problem">could not be read: {html.escape(problem)}</p>' for problem in problems]
    return [*lines, "</header>"]


def cost_line(cost: Mapping[str, Any]) -> str:
    """`$1.23 so far (4.5 instance-hours of ended attempts; 1 still running); worst case $50.00 (prices: ...)`."""
    apart = [f"{cost['running_attempts']} still running"] if cost["running_attempts"] else []
    apart += [f"{cost['lost_attempts']} lost, no end known"] if cost["lost_attempts"] else []
    apart += [f"{cost['unpriced_attempts']} unpriced"] if cost["unpriced_attempts"] else []
    worst = cost["worst_case"]
    bound = f"${worst['worst_case_usd']}" if worst["worst_case_usd"] is not None else f"{worst['worst_case']}" + (
        f" (${worst['priced_usd']} for the {worst['priced_runs']} priced runs)" if worst["priced_usd"] else "")  # fmt: skip
    return (f"${cost['so_far_usd']} so far ({cost['so_far_hours']} instance-hours of ended attempts"
            f"{'; ' + ', '.join(apart) if apart else ''}); worst case {bound} (prices: {worst['source']})")  # fmt: skip


def leaderboard(document: Mapping[str, Any]) -> str:
    """The top runs as `results` ranks them: rank, name, status, the metric (its source when some are progress reports), parameters."""
    ranking = document.get("ranking")
    if not ranking:
        return "<section><h2>Leaderboard</h2><p>no metric to rank by: give --sort-by</p></section>"
    entries = ranking["results"]
    params = list(dict.fromkeys(key for entry in entries for key in entry["params"]))
    source = any("source" in entry for entry in entries)
    head = ["rank", "name", "status", ranking["metric"], *(["source"] if source else []), *params]
    rows = [[entry["rank"], entry["name"], entry["status"], _cell_value(entry, ranking["metric"]), *([entry["source"]] if source else []),
             *[_param_text(entry["params"].get(name)) for name in params]]
            for entry in entries]  # fmt: skip
    better = "higher" if ranking["mode"] == "max" else "lower"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    note = f"<p>top {len(entries)} of {len(ranking['values'])} ranked by {html.escape(ranking['metric'])} ({better} is better); " \
           f"statuses ranked: {html.escape(', '.join(ranking['statuses']))}; click a column to sort</p>"  # fmt: skip
    head_cells = "".join(f"<th>{html.escape(str(name))}</th>" for name in head)
    return f'<section><h2>Leaderboard</h2>{note}<table class="leaderboard"><thead><tr>{head_cells}</tr></thead><tbody>{body}</tbody></table></section>'


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else _label(value)


def _cell_value(entry: Mapping[str, Any], metric: str) -> Any:
    """The ranking value as `results` saved it: at the top level under the metric's name."""
    value = entry.get(metric)
    return f"{value:.6g}" if isinstance(value, float) else value


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}h1{margin:0 0 .2em}h2{font-size:1.1em;margin:1.2em 0 .3em}"
    "section{max-width:1200px}table{border-collapse:collapse;font-size:.9em}th,td{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}"
    "th{cursor:pointer;background:#f4f4f4}.problem{color:#b00}.generated{color:#666;font-size:.9em}"
)
# Unpack each figure (DecompressionStream, in every current browser) and draw it; an error goes to the console.
# Sort the leaderboard by a column on a click (numbers as numbers).
_DRAW = (
    "function unpack(s){var b=Uint8Array.from(atob(s.textContent),function(c){return c.charCodeAt(0);});"
    'return new Response(new Blob([b]).stream().pipeThrough(new DecompressionStream("gzip"))).json();}'
    f'document.querySelectorAll("script.{FIGURE_CLASS}").forEach(function(s){{unpack(s).then(function(f){{'
    f"return Plotly.newPlot(s.dataset.target,f.data,f.layout,{json.dumps(_CONFIG)});}}).catch(function(e){{console.error(e);}});}});"
    'document.querySelectorAll("table.leaderboard th").forEach(function(th,i){th.addEventListener("click",function(){'
    'var body=th.closest("table").tBodies[0],rows=Array.from(body.rows),up=th.dataset.up!=="1";th.dataset.up=up?"1":"0";'
    "rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,p=parseFloat(x),q=parseFloat(y);"
    "var c=(isNaN(p)||isNaN(q))?x.localeCompare(y):p-q;return up?c:-c;});rows.forEach(function(r){body.appendChild(r);});});});"
)
