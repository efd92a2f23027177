#!/usr/bin/env python3
"""CI's smoke run of the comparison: every system and both pipelines (`pricing run`
on JetStream R3 and on Kafka) once, briefly, through the real script (two real 3-node
nats-server clusters, one of them fsyncing every write, and a real 3-node Kafka
cluster), then checks that each system delivered every message, each pipeline priced
every event, every cell says what it cost, and every output is there and consistent.

    check_perf_smoke.py SCRIPT OUT_DIR
"""
import json
import os
import shutil
import subprocess
import sys

script, out = sys.argv[1], sys.argv[2]
shutil.rmtree(out, ignore_errors=True)
# Ports of its own (21222-21224, 23222.., 25222..): a comparison someone runs on the
# default ports meanwhile is left alone.
subprocess.run([script, "--smoke", "--out", out, "--base-port", "21222"], check=True)

with open(os.path.join(out, "cells.json"), encoding="utf-8") as f:
    data = json.load(f)
failures = []
labels = {c["label"] for c in data["cells"]}
omb = sorted(c["backend"] for c in data["cells"] if c["profile"] == "omb")
if omb != ["kafka", "kafka-fsync", "kafka-group"]:
    failures.append(f"the omb profile ran on {omb}, expected Kafka's two systems only")
expected = {"loopback (no broker: the harness's floor)", "nats-core", "jetstream-r1", "jetstream-r3",
            "jetstream-r3-pull", "jetstream-r3-fsync", "kafka", "kafka-group", "kafka-fsync"}
if labels != expected:
    failures.append(f"systems {sorted(labels)}, expected {sorted(expected)}")
for c in data["cells"]:
    name = c["label"]
    if c["sent"] != c["planned"] or c["received"] != c["sent"] or c["lost"] or c["duplicates"]:
        failures.append(f"{name}: planned {c['planned']}, sent {c['sent']}, received {c['received']}, "
                        f"lost {c['lost']}, duplicates {c['duplicates']}")
    measured = round(c["rate"] * c["seconds"])
    for metric, h in c["latency_us"].items():
        if abs(h["count"] - measured) > 1:
            failures.append(f"{name} {metric}: {h['count']} recorded, expected {measured}")
        if not (0 < h["p50"] <= h["p99"] <= h["max"]):
            failures.append(f"{name} {metric}: percentiles out of order {h}")
        if not os.path.getsize(os.path.join(out, h["hgrm"])):
            failures.append(f"{name}: {h['hgrm']} is empty")
    has_ack = "ack" in c["latency_us"]
    if has_ack != (c["backend"] != "loopback" and c["backend"] != "nats-core"):
        failures.append(f"{name}: ack latency {'present' if has_ack else 'missing'}")
    if has_ack and c["acked"] != c["sent"]:
        failures.append(f"{name}: {c['acked']} of {c['sent']} acknowledged")
    if "group" in c["backend"] and "consumer group" not in c["consumer"]:
        failures.append(f"{name}: read by {c['consumer']}")
    if "pull" in c["backend"] and "durable pull consumer" not in c["consumer"]:
        failures.append(f"{name}: read by {c['consumer']}")
    if name not in data["durability"]:
        failures.append(f"{name}: no durability statement")
    # What it cost: every system but the floor has its three server processes.
    cost = c["cost"]
    servers = cost["servers"]
    if c["backend"] == "loopback":
        if servers:
            failures.append(f"{name}: server processes {servers} for the floor")
    elif len(servers) != 3 or not all(s["rss_mib"] > 1 and s["cpu_percent"] >= 0 for s in servers):
        failures.append(f"{name}: server costs {servers}")
    elif cost["server_cpu_percent"] <= 0:
        failures.append(f"{name}: the servers used no CPU at {c['rate']}/s: {cost}")
    want = "java" if c["backend"].startswith("kafka") else "nats-server"
    if c["backend"] != "loopback" and any(s["process"] != want for s in servers):
        failures.append(f"{name}: server processes {[s['process'] for s in servers]}, expected {want}")
    if not (0 < cost["client_cpu_percent"] and cost["client_rss_mib"] > 1):
        failures.append(f"{name}: client cost {cost}")
pipelines = {p["label"]: p for p in data["pipeline"]}
if set(pipelines) != {"jetstream-r3", "kafka"}:
    failures.append(f"pipelines {sorted(pipelines)}")
for name, p in pipelines.items():
    if not p["sustainable"] or p["ticks"] < 2 or p["unattributed"] or p["processor_read"] < p["sent"]:
        failures.append(f"pipeline {name}: {p['verdict']}, {p['ticks']} ticks, {p['unattributed']} "
                        f"unpriced, read {p['processor_read']} of {p['sent']}")
    e2u = p["event_to_update_us"]
    # At least the wait for the tick's close (lateness 200 ms), at most a few intervals.
    if not (200_000 <= e2u["p50"] <= e2u["max"] <= 5_000_000):
        failures.append(f"pipeline {name}: event to update {e2u}")
# The pipeline's search, bounded: from 200/s (held above) to the cap of 400/s, and if
# 400/s does not hold on a busy machine, two bisection steps between.
searched = {m["label"]: m for m in data.get("pipeline_max_rates", [])}
if set(searched) != {"jetstream-r3", "kafka"}:
    failures.append(f"pipeline searches {sorted(searched)}")
for name, m in searched.items():
    tries = [p for p in data.get("pipeline_search", []) if p["label"] == name]
    rates = [p["rate"] for p in tries]
    if m["max_sustained_rate"] < 200 or not rates or rates[0] != 400 or not all(200 < r <= 400 for r in rates):
        failures.append(f"pipeline search {name}: highest {m['max_sustained_rate']}/s, "
                        f"tries {[(p['rate'], p['verdict']) for p in tries]}")
if "## The pipeline's highest sustained rate" not in open(os.path.join(out, "summary.md"), encoding="utf-8").read():
    failures.append("summary.md has no pipeline search table")
# Failover side by side: each system's leader was killed, nothing acknowledged was lost,
# and consumption went on after the kill.
failover = {f["backend"]: f for f in data.get("failover", [])}
if set(failover) != {"jetstream-r3", "kafka"}:
    failures.append(f"failover runs {sorted(failover)}")
for name, f in failover.items():
    if not f["killed"] or f["lost"] or f["received"] < f["acked"] or f["acked"] == 0:
        failures.append(f"failover {name}: killed {f['killed'] or f['error']}, acked {f['acked']}, "
                        f"received {f['received']}, lost {f['lost']}")
summary = open(os.path.join(out, "summary.md"), encoding="utf-8").read()
if "## Failover" not in summary:
    failures.append("summary.md has no failover table")
if "kafka-mock" in summary or "| kafka-fsync |" not in summary or "server CPU" not in summary:
    failures.append("summary.md names the mock, or lacks kafka-fsync or the cost columns")
report = open(os.path.join(out, "report.html"), encoding="utf-8").read()
if "<svg" not in report or "kafka-fsync" not in report:
    failures.append("report.html has no chart or no kafka-fsync")
if "<h2>The pipeline's highest sustained rate</h2>" not in report:
    failures.append("report.html has no pipeline search table")
csv_rows = open(os.path.join(out, "cells.csv"), encoding="utf-8").read().strip().split("\n")
# header; 2 metrics for loopback and core, 3 for the rest; Kafka's two systems twice (tuned, omb)
if len(csv_rows) != 1 + 2 * 2 + 3 * 7 + 3 * 3:
    failures.append(f"cells.csv has {len(csv_rows)} lines")
if not csv_rows[0].endswith("server_cpu_pct,client_cpu_pct,server_rss_mib,client_rss_mib"):
    failures.append(f"cells.csv header {csv_rows[0]}")
if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"smoke run: {len(data['cells'])} systems, every message delivered")
