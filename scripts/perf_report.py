#!/usr/bin/env python3
"""Turns a results folder of bench/perf/perf_compare into an offline HTML report.

    scripts/perf_report.py RESULTS_DIR

Reads cells.json and the .hgrm files, writes RESULTS_DIR/report.html (no scripts, no
network: inline SVG) and each chart as RESULTS_DIR/charts/*.svg:

- a latency percentile spectrum per group of cells (same client profile, message size,
  partitions and rate): one line per system, latency from the intended send time
  against 1/(1-percentile) on log axes, as HdrHistogram plots it;
- latency against throughput per client profile and message size: the corrected p99
  of every cell that held its rate (sweep and max-rate search) against the rate sent.
"""
import html
import json
import math
import os
import sys

COLOURS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#111111", "#8c564b", "#e377c2"]
W, H = 860, 380
ML, MR, MT, MB = 70, 300, 30, 50


def read_hgrm(path):
    """(value_us, percentile 0..1) pairs of an .hgrm file."""
    points = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or line.startswith("#") or parts[0] == "Value":
                continue
            try:
                points.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue
    return points


def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.0f} µs"


def log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        if 10 ** e >= lo / 1.0001:
            ticks.append(10 ** e)
        e += 1
    return ticks


class LogLogChart:
    def __init__(self, title, xlabel, ylabel, x_range, y_range):
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        self.series = []

    def x(self, v):
        return ML + (math.log10(v) - math.log10(self.x0)) / (math.log10(self.x1) - math.log10(self.x0)) * (W - ML - MR)

    def y(self, v):
        return H - MB - (math.log10(v) - math.log10(self.y0)) / (math.log10(self.y1) - math.log10(self.y0)) * (H - MT - MB)

    def add(self, name, points, markers=False):
        self.series.append((name, points, markers))

    def svg(self, x_tick_label):
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
               'font-family="sans-serif" font-size="11">',
               f'<rect width="{W}" height="{H}" fill="white"/>',
               f'<text x="{ML}" y="18" font-size="13" font-weight="bold">{html.escape(self.title)}</text>']
        for t in log_ticks(self.x0, self.x1):
            px = self.x(t)
            out.append(f'<line x1="{px:.1f}" y1="{MT}" x2="{px:.1f}" y2="{H - MB}" stroke="#ddd"/>')
            out.append(f'<text x="{px:.1f}" y="{H - MB + 14}" text-anchor="middle">{html.escape(x_tick_label(t))}</text>')
        for t in log_ticks(self.y0, self.y1):
            py = self.y(t)
            out.append(f'<line x1="{ML}" y1="{py:.1f}" x2="{W - MR}" y2="{py:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{ML - 6}" y="{py + 4:.1f}" text-anchor="end">{html.escape(fmt_us(t))}</text>')
        out.append(f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="none" stroke="#888"/>')
        out.append(f'<text x="{(ML + W - MR) / 2:.0f}" y="{H - 12}" text-anchor="middle">{html.escape(self.xlabel)}</text>')
        out.append(f'<text x="14" y="{(MT + H - MB) / 2:.0f}" text-anchor="middle" '
                   f'transform="rotate(-90 14 {(MT + H - MB) / 2:.0f})">{html.escape(self.ylabel)}</text>')
        for i, (name, points, markers) in enumerate(self.series):
            colour = COLOURS[i % len(COLOURS)]
            pts = [(self.x(px), self.y(py)) for px, py in points
                   if self.x0 <= px <= self.x1 and self.y0 <= py <= self.y1]
            if len(pts) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            if markers:
                for px, py in pts:
                    out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
            ly = MT + 12 + i * 16
            out.append(f'<rect x="{W - MR + 12}" y="{ly - 8}" width="12" height="3" fill="{colour}"/>')
            out.append(f'<text x="{W - MR + 28}" y="{ly - 3}">{html.escape(name)}</text>')
        out.append("</svg>")
        return "\n".join(out)


def spectrum_charts(results, cells):
    groups = {}
    for c in cells:
        key = (c["profile"], c["message_bytes"], c["partitions"], c["rate"])
        groups.setdefault(key, []).append(c)
    charts = []
    for (profile, size, parts, rate), group in sorted(groups.items()):
        series, lo, hi = [], float("inf"), 0.0
        for c in group:
            path = os.path.join(results, c["latency_us"]["e2e"]["hgrm"])
            if not os.path.exists(path):
                continue
            # 1/(1-p) on the x axis: 1 is the median's left, 1000 is p99.9.
            pts = [(1.0 / (1.0 - p), max(v, 1.0)) for v, p in read_hgrm(path) if p < 0.999999]
            if not pts:
                continue
            lo, hi = min(lo, min(v for _, v in pts)), max(hi, max(v for _, v in pts))
            series.append((c["label"], pts))
        if not series:
            continue
        chart = LogLogChart(f"Latency by percentile: {profile} clients, {size} B, {parts} partition(s), "
                            f"{rate:.0f} msg/s", "percentile", "end to end, from intended send",
                            (1, 1e6), (10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))))
        for name, pts in series:
            chart.add(name, pts)
        label = lambda t: {1: "0%", 10: "90%", 100: "99%", 1000: "99.9%", 10000: "99.99%",
                           100000: "99.999%", 1000000: "99.9999%"}.get(int(round(t)), "")
        name = f"spectrum_{profile}_{size}B_p{parts}_{rate:.0f}"
        charts.append((name, chart.svg(label)))
    return charts


def throughput_charts(cells):
    groups = {}
    for c in cells:
        # The curve of rates that held; the ones that did not are in the max-rate table.
        if c["latency_us"]["e2e"]["count"] == 0 or c["send_rate"] <= 0 or not c["sustainable"]:
            continue
        groups.setdefault((c["profile"], c["message_bytes"], c["partitions"]), {}).setdefault(
            c["label"], []).append((c["send_rate"], max(c["latency_us"]["e2e"]["p99"], 1.0)))
    charts = []
    for (profile, size, parts), by_system in sorted(groups.items()):
        xs = [x for pts in by_system.values() for x, _ in pts]
        ys = [y for pts in by_system.values() for _, y in pts]
        chart = LogLogChart(f"p99 against throughput: {profile} clients, {size} B, {parts} partition(s)",
                            "messages/s sent", "corrected p99",
                            (10 ** math.floor(math.log10(min(xs))), 10 ** math.ceil(math.log10(max(xs)) + 1e-9)),
                            (10 ** math.floor(math.log10(min(ys))), 10 ** math.ceil(math.log10(max(ys)) + 1e-9)))
        for name, pts in sorted(by_system.items()):
            chart.add(name, sorted(pts), markers=True)
        label = lambda t: f"{t:,.0f}"
        charts.append((f"throughput_{profile}_{size}B_p{parts}", chart.svg(label)))
    return charts


def cost_columns(c):
    """Server CPU, client CPU (% of one core) and server RSS of a cell, or dashes."""
    cost = c.get("cost")
    if not cost:
        return ["—", "—", "—"]
    servers = bool(cost["servers"])
    return [f'{cost["server_cpu_percent"]:.0f} %' if servers else "—", f'{cost["client_cpu_percent"]:.0f} %',
            f'{cost["server_rss_mib"]:.0f} MiB' if servers else "—"]


# The claims of the design documents, NATS against Kafka, each tested on a cell of this
# run: the replicated pair (jetstream-r3 and kafka: acks from a quorum / every in-sync
# replica, neither fsyncing per message), 100-byte messages, one partition, and each
# system with its best client profile at that rate (the lowest corrected p50 among the
# cells that held it), named in the row: a profile that suits one system can cripple
# the other (librdkafka's 1 ms fetch wait floods real brokers). Where the machine, not
# the system, decides the answer, the verdict says so.
CLAIM_SIZE, CLAIM_PARTS = 100, 1


def claim_cell(cells, backend, rate=None):
    """The cell of `backend` for the claims at `rate` (None: the lowest rate), or None."""
    pick = [c for c in cells if c["backend"] == backend and c["message_bytes"] == CLAIM_SIZE
            and c["partitions"] == CLAIM_PARTS]
    if not pick:
        pick = [c for c in cells if c["backend"] == backend]
    if not pick:
        return None
    at = rate if rate is not None else min(c["rate"] for c in pick)
    pick = [c for c in pick if c["rate"] == at]
    if not pick:
        return None
    held = [c for c in pick if c["sustainable"]] or pick
    return min(held, key=lambda c: c["latency_us"]["e2e"]["p50"])


def max_rate_of(data, backend):
    rows = [m for m in data.get("max_rates", []) if m["backend"] == backend]
    return max(rows, key=lambda m: m["max_sustained_rate"]) if rows else None


def in_range(v, lo, hi):
    """A claim of a range: holds inside it; outside, says on which side."""
    if v < lo:
        return "does not hold: lower than claimed"
    if v > hi:
        return "does not hold: higher than claimed"
    return "holds"


def verdicts(data):
    """Rows of (claim, measured here, verdict, the cell it comes from)."""
    cells, rows = data["cells"], []
    cores = data.get("cores") or 2
    js, kf = "jetstream-r3", "kafka"

    def p50_ms(c):
        return c["latency_us"]["e2e"]["p50"] / 1000

    # Latency: under 1 ms for NATS, 5-10 ms for Kafka.
    for backend, claim, lo, hi in ((js, "NATS: latency under 1 ms", 0, 1), (kf, "Kafka: latency 5–10 ms", 5, 10)):
        c = claim_cell(cells, backend)
        if c is None:
            rows.append((claim, "no cell of " + backend + " in this run", "cannot be measured", "—"))
            continue
        v = p50_ms(c)
        verdict = in_range(v, lo, hi) if lo else ("holds" if v < hi else "does not hold: higher than claimed")
        if not c["sustainable"]:
            verdict += f" (the cell did not hold its rate: {c['verdict']})"
        rows.append((claim, f"{v:.2f} ms, end-to-end p50 (corrected) at {c['rate']:,.0f}/s, {c['profile']} client",
                     verdict, c["id"]))
    # Throughput: 1-10 M msg/s for NATS, 100 k-1 M for Kafka. The harness's own floor bounds
    # what any system can show here.
    floor = max_rate_of(data, "loopback")
    for backend, claim, lo, hi in (("nats-core", "NATS: 1–10 M msg/s", 1e6, 1e7),
                                   (kf, "Kafka: 100 k–1 M msg/s", 1e5, 1e6)):
        m = max_rate_of(data, backend)
        if m is None:
            rows.append((claim, "no max-rate search in this run", "cannot be measured", "—"))
            continue
        rate = m["max_sustained_rate"]
        text = f"{rate:,.0f}/s highest sustained ({m['message_bytes']} B, {m['profile']} client)"
        if rate >= lo:
            verdict = "holds" if rate <= hi else "holds (above the range)"
        elif m["first_failed_rate"] == 0:
            verdict = (f"cannot be measured here: the search stopped at its cap with the rate still holding "
                       f"(perf_compare --max-rate, 400,000/s by default)")
        else:
            verdict = (f"does not hold on {cores} cores, which the clients and all servers share (the loopback "
                       f"floor's sender: {floor['max_sustained_rate']:,.0f}/s)" if floor else "does not hold")
        rows.append((claim, text, verdict, f"max-rate search, {backend}"))
    # Memory: 50-100 MB per NATS server, 500 MB-1 GB per Kafka broker (resident, largest seen).
    for backend, claim, lo, hi in ((js, "NATS: 50–100 MB of memory", 50, 100),
                                   (kf, "Kafka: 500 MB–1 GB of memory", 500, 1024)):
        seen = [(s["rss_mib"], c["id"]) for c in cells if c["backend"] == backend and c.get("cost")
                for s in c["cost"]["servers"]]
        if not seen:
            rows.append((claim, "no server processes measured", "cannot be measured", "—"))
            continue
        rss, cell = max(seen)
        note = " (the brokers' heap is fixed by start-kafka-cluster.sh --heap)" if backend == kf else ""
        rows.append((claim, f"{rss:.0f} MiB resident, the largest server process{note}", in_range(rss, lo, hi), cell))
    # CPU: 10-20 % for NATS, 30-50 % for Kafka, per server process at the same rate.
    common = sorted({c["rate"] for c in cells if c["backend"] == js} & {c["rate"] for c in cells if c["backend"] == kf})
    for backend, claim, lo, hi in ((js, "NATS: 10–20 % CPU", 10, 20), (kf, "Kafka: 30–50 % CPU", 30, 50)):
        c = claim_cell(cells, backend, common[-1]) if common else None
        if c is None or not c.get("cost") or not c["cost"]["servers"]:
            rows.append((claim, "no common rate measured", "cannot be measured", "—"))
            continue
        per = c["cost"]["server_cpu_percent"] / len(c["cost"]["servers"])
        rows.append((claim, f"{per:.0f} % of a core per server at {c['rate']:,.0f}/s, {c['profile']} client "
                            f"({c['cost']['server_cpu_percent']:.0f} % for all three)",
                     in_range(per, lo, hi), c["id"]))
    # "5x, 3x, 2x faster" at small, medium and heavy load: Kafka's p50 over JetStream's.
    loads = list(zip(("small", "medium", "heavy"), (5, 3, 2), common[:3] if len(common) >= 3 else common))
    for name, factor, rate in loads:
        a, b = claim_cell(cells, js, rate), claim_cell(cells, kf, rate)
        ratio = p50_ms(b) / p50_ms(a) if p50_ms(a) > 0 else 0
        held = a["sustainable"] and b["sustainable"]
        verdict = "holds" if ratio >= factor else "does not hold"
        if not held:
            verdict += " (a system did not sustain the rate: " + (a["verdict"] if not a["sustainable"] else b["verdict"]) + ")"
        rows.append((f"NATS {factor}× faster than Kafka at {name} load", f"{ratio:.1f}× (Kafka p50 {p50_ms(b):.2f} ms, "
                     f"{b['profile']} client; JetStream R3 {p50_ms(a):.2f} ms, {a['profile']} client; at {rate:,.0f}/s)",
                     verdict, f"{a['id']}, {b['id']}"))
    if len(common) < 3:
        rows.append(("NATS 5×, 3×, 2× faster at small, medium, heavy load",
                     f"{len(common)} common rate(s) in this run", "cannot be measured in full", "—"))
    return rows


def verdict_markdown(rows, cores):
    out = ["## The claims, tested", "",
           "The design documents' claims for NATS against Kafka, each against a cell of this run "
           f"(the replicated pair jetstream-r3 and kafka; {CLAIM_SIZE} B; one partition; each system's best "
           "client profile at the rate, named). "
           f"Every server and client shares this machine's {cores} cores: throughput and CPU figures are "
           "bounded by that, not by either system alone.", "",
           "| claim | measured here | verdict | from |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(out) + "\n"


def table(cells):
    rows = ["<table><tr><th>system</th><th>client</th><th>size</th><th>parts</th><th>rate/s</th>"
            "<th>sent/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th>"
            "<th>from send p50</th><th>from send p99</th><th>ack p50</th><th>ack p99</th>"
            "<th>server CPU</th><th>client CPU</th><th>server RSS</th><th>verdict</th></tr>"]
    for c in cells:
        e, s = c["latency_us"]["e2e"], c["latency_us"]["e2e_from_send"]
        a = c["latency_us"].get("ack")
        cols = [c["label"], c["profile"], f'{c["message_bytes"]} B', c["partitions"], f'{c["rate"]:,.0f}',
                f'{c["send_rate"]:,.0f}', fmt_us(e["p50"]), fmt_us(e["p90"]), fmt_us(e["p99"]),
                fmt_us(e["p99.9"]), fmt_us(e["p99.99"]), fmt_us(e["max"]), fmt_us(s["p50"]), fmt_us(s["p99"]),
                fmt_us(a["p50"]) if a else "—", fmt_us(a["p99"]) if a else "—"] + cost_columns(c) + [c["verdict"]]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in cols) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: perf_report.py RESULTS_DIR")
    results = sys.argv[1]
    with open(os.path.join(results, "cells.json"), encoding="utf-8") as f:
        data = json.load(f)
    cells = data["cells"]
    charts = spectrum_charts(results, cells) + throughput_charts(cells + data.get("max_rate_search", []))
    os.makedirs(os.path.join(results, "charts"), exist_ok=True)
    for name, svg in charts:
        with open(os.path.join(results, "charts", name + ".svg"), "w", encoding="utf-8") as f:
            f.write(svg)
    cores = os.cpu_count() or 2
    data["cores"] = cores
    rows = verdicts(data)
    # summary.md opens with the verdict, as report.html does.
    summary_path = os.path.join(results, "summary.md")
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            summary = f.read()
        marker = "## The claims, tested"
        if marker in summary:  # run again: the section is replaced
            before, _, after = summary.partition(marker)
            summary = before.rstrip("\n") + "\n" + after[after.find("\n## "):]
        head, sep, rest = summary.partition("\n## ")
        summary = head.rstrip("\n") + "\n\n" + verdict_markdown(rows, cores) + "\n" + sep.lstrip("\n") + rest
        with open(summary_path, "w", encoding="utf-8") as f:
            f.write(summary)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Messaging latency comparison</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "th{background:#f3f3f3}figure{margin:1em 0}</style></head><body>",
             "<h1>Messaging latency comparison</h1>",
             f"<p>Generated {html.escape(data['generated'])} on {html.escape(data['machine'])}.</p>",
             f"<p>{html.escape(data['method'])}.</p>",
             "<h2>The claims, tested</h2><table><tr><th>claim</th><th>measured here</th><th>verdict</th>"
             "<th>from</th></tr>"]
    for r in rows:
        parts.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>")
    parts += ["</table>",
             "<h2>What an acknowledgement means</h2><table><tr><th>system</th><th>durability</th></tr>"]
    for label, text in sorted(data["durability"].items()):
        parts.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(text)}</td></tr>")
    parts.append("</table>")
    if data.get("max_rates"):
        parts.append("<h2>Highest sustained rate</h2><table><tr><th>system</th><th>client</th><th>size</th>"
                     "<th>highest sustained/s</th><th>corrected p99 there</th><th>first failed/s</th><th>why</th></tr>")
        for m in data["max_rates"]:
            failed = f'{m["first_failed_rate"]:,.0f}' if m["first_failed_rate"] > 0 else "none"
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in [
                m["label"], m["profile"], f'{m["message_bytes"]} B', f'{m["max_sustained_rate"]:,.0f}',
                fmt_us(m["p99_us_at_max"]), failed, m["failed_because"]]) + "</tr>")
        parts.append("</table>")
    if data.get("failover"):
        parts.append("<h2>Failover: the leader SIGKILLed mid-run</h2><table><tr><th>system</th><th>rate/s</th>"
                     "<th>killed</th><th>publish outage</th><th>consumption stood still</th><th>resumed after</th>"
                     "<th>acked</th><th>ack errors</th><th>lost</th><th>received twice</th></tr>")
        for f in data["failover"]:
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in [
                f["label"], f'{f["rate"]:,.0f}', f["killed"] or "none: " + f["error"], f'{f["publish_outage_s"]:.2f} s',
                f'{f["consume_stall_s"]:.2f} s', f'{f["resumed_after_s"]:.2f} s', f["acked"], f["ack_errors"],
                f["lost"], f["duplicates"]]) + "</tr>")
        parts.append("</table>")
    if data.get("pipeline"):
        parts.append("<h2>The pipeline: event to pricing update</h2><p>The real <code>pricing run</code> on each "
                     "backend, fed open loop by the load generator; from an event's intended send time to the "
                     "first pricing update of the tick that counts it, and from the tick's close to that "
                     "update.</p><table><tr><th>system</th><th>events/s</th><th>sent/s</th>"
                     "<th>event to update p50</th><th>p99</th><th>close to update p50</th><th>p99</th>"
                     "<th>ticks</th><th>refused late</th><th>verdict</th></tr>")
        for p in data["pipeline"]:
            e, c = p["event_to_update_us"], p["close_to_update_us"]
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in [
                p["label"], f'{p["rate"]:,.0f}', f'{p["send_rate"]:,.0f}', fmt_us(e["p50"]), fmt_us(e["p99"]),
                fmt_us(c["p50"]), fmt_us(c["p99"]), p["ticks"], p["processor_rejected"], p["verdict"]]) + "</tr>")
        parts.append("</table>")
    if data.get("pipeline_max_rates"):
        parts.append("<h2>The pipeline's highest sustained rate</h2><table><tr><th>system</th>"
                     "<th>highest sustained events/s</th><th>event to update p99 there</th>"
                     "<th>close to update p99 there</th><th>first failed/s</th><th>why</th></tr>")
        for m in data["pipeline_max_rates"]:
            held = m["max_sustained_rate"] > 0
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in [
                m["label"], f'{m["max_sustained_rate"]:,.0f}' if held else "none held",
                fmt_us(m["event_to_update_p99_us_at_max"]) if held else "—",
                fmt_us(m["close_to_update_p99_us_at_max"]) if held else "—",
                f'{m["first_failed_rate"]:,.0f}' if m["first_failed_rate"] > 0 else "none",
                m["failed_because"]]) + "</tr>")
        parts.append("</table>")
    # The peer tools' sections, which the comparison script appends to summary.md.
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            for section in f.read().split("\n## ")[1:]:
                if not section.startswith("Peer tool"):
                    continue
                title, _, body = section.partition("\n")
                parts.append(f"<h2>{html.escape(title)}</h2>")
                paragraph, items = [], []
                for line in body.strip().split("\n"):
                    if line.startswith("- "):
                        items.append(line[2:])
                    elif line.startswith("  ") and items:
                        items[-1] += " " + line.strip()
                    elif line.strip():
                        paragraph.append(line)
                parts.append(f"<p>{html.escape(' '.join(paragraph))}</p><ul>")
                parts += [f"<li>{html.escape(i.replace('`', ''))}</li>" for i in items]
                parts.append("</ul>")
    parts.append("<h2>Latency against throughput</h2>")
    parts += [f"<figure>{svg}</figure>" for name, svg in charts if name.startswith("throughput_")]
    parts.append("<h2>Latency percentile spectra</h2>")
    parts += [f"<figure>{svg}</figure>" for name, svg in charts if name.startswith("spectrum_")]
    parts.append("<h2>Every cell</h2>")
    parts.append(table(cells))
    parts.append("</body></html>")
    with open(os.path.join(results, "report.html"), "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    print(f"report: {os.path.join(results, 'report.html')} ({len(charts)} charts)")


if __name__ == "__main__":
    main()
