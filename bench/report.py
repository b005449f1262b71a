"""How `make bench` shows its figures: the per-order costs on the terminal, and bench/results/latest.md."""

from __future__ import annotations

import statistics
from typing import Any


def print_costs(per_order: dict[str, Any], indent: str = "    ") -> None:
    """One line of counts and one of CPU per process, per completed order."""
    counts = [
        f"{label} {per_order[key]}"
        for key, label in (
            ("engineStepsPerOrder", "engine steps"),
            ("commitsPerOrder", "commits"),
            ("fsyncsPerOrder", "fsyncs"),
            ("connectorCallsPerOrder", "connector HTTP calls"),
            ("restStartsPerOrder", "REST starts"),
        )
        if per_order.get(key) is not None
    ]
    if counts:
        print(f"{indent}per order: {', '.join(counts)}", flush=True)
    cpu = per_order.get("cpuMsPerOrder") or {}
    if cpu:
        print(f"{indent}CPU ms per order: " + ", ".join(f"{role} {ms}" for role, ms in cpu.items()), flush=True)


def _cpu_cell(per_order: dict[str, Any]) -> str:
    cpu = per_order.get("cpuMsPerOrder") or {}
    return ", ".join(f"{role} {ms}" for role, ms in cpu.items())


def _count(per_order: dict[str, Any], key: str) -> str:
    value = per_order.get(key)
    return "–" if value is None else str(value)


def markdown(figures: dict[str, Any]) -> str:
    machine = figures["machine"]
    lines = [
        f"# Benchmark, {figures['measuredAt']}",
        "",
        f"Command: `{figures['command']}`  ",
        f"Machine: {machine['cpus']} CPUs ({machine.get('cpuModel') or 'unknown model'}), "
        f"{machine.get('memoryGiB')} GiB, {machine.get('system')}, Python {machine['python']}, "
        f"load average at start {machine.get('loadAverageAtStart')}  ",
        f"Diagram: `{figures['diagram']}`",
        "",
    ]
    if "ratio" in figures:
        plain = [r["ordersPerSecond"] for r in figures["plainSpiffWorkflow"]]
        embedded = [r["ordersPerSecond"] for r in figures["orderflowEndToEnd"]]
        ratio = figures["ratio"]
        engines = figures.get("endToEndSettings", {}).get("engineProcesses")
        lines += [
            "## (a) plain SpiffWorkflow vs (b) orderflow end to end (embedded, SQLite)",
            "",
            *(
                [
                    f"(b) is `orderflow serve` as it starts by default: {engines} engine process(es) on one port (one "
                    "per core), the sandbox systems, SQLite with group commit.",
                    "",
                ]
                if engines
                else []
            ),
            "| | orders/s, median (range) |",
            "|---|---|",
            f"| (a) plain SpiffWorkflow, in memory | {statistics.median(plain):.1f} ({min(plain)}–{max(plain)}) |",
            f"| (b) orderflow end to end | {statistics.median(embedded):.1f} ({min(embedded)}–{max(embedded)}) |",
            f"| **b/a** (median of {len(plain)} rounds) | **{ratio['median']:.3f}** ({ratio['min']:.3f}–"
            f"{ratio['max']:.3f}) |",
            "",
        ]
        if figures.get("cpuRatio") is not None:
            lines += [
                f"By CPU per order, (a) against (b)'s server and sandbox: **{figures['cpuRatio']:.3f}** (median of the "
                "rounds). The throughput ratio moves with how a busy machine shares its cores between the one process "
                "of (a) and the several of (b); the CPU an order costs does not.",
                "",
            ]
        last = figures["orderflowEndToEnd"][-1]["perOrder"]
        lines += _costs_table([("(b) embedded, SQLite", last)])
        if figures.get("openLoop"):
            lines += [
                "Open loop (fixed arrival rate; latency from scheduled arrival to completion):",
                "",
                "| rate | orders | p50 | p90 | p99 | max |",
                "|---|---|---|---|---|---|",
            ]
            for loop in figures["openLoop"]:
                lat = loop["latencyMs"]
                lines.append(
                    f"| {loop['ratePerSecond']}/s for {loop['seconds']:.0f} s | {loop['completed']}/{loop['orders']} "
                    f"| {lat['p50']} ms | {lat['p90']} ms | {lat['p99']} ms | {lat['max']} ms |"
                )
            lines.append("")
    dist = figures.get("distributed")
    if dist:
        lines += ["## (c) distributed scaling on PostgreSQL + Redis", ""]
        if "runs" not in dist:
            lines += [f"Not run: {dist.get('skipped') or dist.get('failed')}", ""]
        else:
            rounds = dist.get("rounds", 1)
            lines += [
                f"Each worker: `orderflow worker {dist.get('workerArgs', '')}`. Medians of {rounds} round(s); a "
                "set-up's ratio to embedded is the median of its rounds' ratios to the same round's embedded run.",
                "",
                "| set-up | orders/s | of embedded | completed | orders/s per round |",
                "|---|---|---|---|---|",
            ]
            for name, run in dist["runs"].items():
                share = f"{run['ratioToEmbedded']:.2f}" if "ratioToEmbedded" in run else "1"
                each = ", ".join(str(x) for x in run.get("ordersPerSecondRounds", [run["ordersPerSecond"]]))
                done = f"{run['completed']}/{run['orders']}"
                lines.append(f"| {name} | {run['ordersPerSecond']} | {share} | {done} | {each} |")
            lines.append("")
            if rounds > 1:
                lines += ["Per order, in the last round:", ""]
            lines += _costs_table([(name, run["perOrder"]) for name, run in dist["runs"].items()])
            timers = next((r["timerLateness"] for r in dist["runs"].values() if "timerLateness" in r), None)
            if timers:
                late = timers["latenessMs"]
                lines += [
                    f"Timer lateness, {timers['instances']} `{timers['timer']}` timers on 2 workers: p50 "
                    f"{late['p50']} ms, p99 {late['p99']} ms, max {late['max']} ms ({timers['fired']} fired).",
                    "",
                ]
    if "decisions" in figures:
        lines += ["## (d) one 20-rule decision table", "", "| case | orderflow | SpiffWorkflow | ratio |"]
        lines.append("|---|---|---|---|")
        for name, case in figures["decisions"]["cases"].items():
            lines.append(
                f"| {name} | {case['orderflowMicroseconds']} µs | {case['spiffWorkflowMicroseconds']} µs | "
                f"{case['ratio']}× |"
            )
        lines.append("")
    if "monitoring" in figures:
        lines += ["## (e) monitoring queries", "", "| query | ms |", "|---|---|"]
        lines += [f"| {name} | {ms} |" for name, ms in figures["monitoring"]["milliseconds"].items()]
        lines.append("")
    if "tracing" in figures:
        tracing = figures["tracing"]
        cpu = tracing["cpuMsPerOrder"]
        lines += [
            "## (f) tracing",
            "",
            f"CPU per order in process ({tracing['orders']} orders, medians of {tracing['rounds']} rounds each, "
            f"alternating): tracing off {cpu['off']} ms, on (OTLP to a local sink) {cpu['on']} ms: "
            f"{tracing['overheadPercent']:+}%.",
            "",
        ]
    lines += [
        "How the per-order counts are taken: engine steps are the instances' revisions (each step saves once); "
        "on SQLite, fsyncs are the server's fsync/fdatasync calls (strace, in a run of their own that is not timed: "
        "tracing slows the server), and commits are not counted (one per "
        "engine step; group commit lets one fsync cover several); on PostgreSQL, commits are the run database's "
        "`xact_commit` (read-only transactions count too) and fsyncs the cluster's WAL syncs (`pg_stat_wal`); "
        "connector HTTP calls are what the sandbox systems received; CPU is user+system time from /proc per "
        "process (a Celery worker with its pool process), PostgreSQL's backends of the run's database, and the "
        "whole Redis server.",
        "",
    ]
    return "\n".join(lines)


def _costs_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = [
        "| per order | engine steps | commits | fsyncs | connector calls | CPU ms per process |",
        "|---|---|---|---|---|---|",
    ]
    for name, per_order in rows:
        lines.append(
            f"| {name} | {_count(per_order, 'engineStepsPerOrder')} | {_count(per_order, 'commitsPerOrder')} | "
            f"{_count(per_order, 'fsyncsPerOrder')} | {_count(per_order, 'connectorCallsPerOrder')} | "
            f"{_cpu_cell(per_order)} |"
        )
    return [*lines, ""]
