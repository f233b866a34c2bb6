"""Table and latest.json for bench/peers/run.sh: one JSON file per peer in
OUT_DIR (the load generator's report plus the ERP count, or a failure), the
machine, the settings. Ratios are Crossdock's figure over the peer's."""

import argparse
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

# What each engine has done with the order when it answers.
ACK = {
    "crossdock": "durable: inbox, order and each ERP effect committed to SQLite (WAL) before the answer",
    "nodered": "none: in memory only; a crash loses the order in flight",
    "n8n": "execution record written to SQLite at the end; regular mode does not resume a crashed execution",
    "temporal": "durable: workflow start and each activity result in the server's history (SQLite, WAL) before the answer",
    "restate": "durable: invocation and each ctx.run result in Restate's log before the answer",
}
SHORT = {"crossdock": "yes", "nodered": "no", "n8n": "no*", "temporal": "yes", "restate": "yes"}
NAMES = {"crossdock": "Crossdock", "nodered": "Node-RED", "n8n": "n8n", "temporal": "Temporal", "restate": "Restate"}


def versions(cache: Path) -> dict:
    def npm(pkg_dir: Path) -> str | None:
        try:
            return json.loads((pkg_dir / "package.json").read_text())["version"]
        except OSError:
            return None

    nm = lambda peer: cache / peer / "node_modules"  # noqa: E731
    out = {
        "node-red": npm(nm("nodered") / "node-red"),
        "n8n": npm(nm("n8n") / "n8n"),
        "restate-server": npm(nm("restate") / "@restatedev" / "restate-server"),
        "restate-sdk": npm(nm("restate") / "@restatedev" / "restate-sdk"),
        "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() or None,
    }
    temporal = cache / "temporal" / "venv" / "bin" / "temporal"
    if temporal.exists():
        out["temporal"] = subprocess.run([temporal, "--version"], capture_output=True, text=True).stdout.strip()
    return out


def machine(load_before: str) -> dict:
    cpu = next(
        (l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")),
        platform.processor(),
    )
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_before": load_before,
        "load_average_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("latest", type=Path)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--peers", required=True)
    ap.add_argument("--load-before", default="")
    ap.add_argument("--cache", type=Path, required=True)
    a = ap.parse_args()

    rows = []
    for peer in a.peers.split():
        path = a.out_dir / f"{peer}.json"
        rows.append(json.loads(path.read_text()) if path.exists() else {"peer": peer, "status": "failed", "reason": "no result"})
    cd = next((r for r in rows if r["peer"] == "crossdock" and r["status"] == "ok"), None)
    for r in rows:
        r["durable_ack"] = ACK[r["peer"]]
        if r["status"] == "ok" and cd:
            r["crossdock_over_peer"] = {
                "per_sec": cd["per_sec"] / r["per_sec"] if r["per_sec"] else None,
                "p50": cd["p50_ms"] / r["p50_ms"] if r["p50_ms"] else None,
                "p99": cd["p99_ms"] / r["p99_ms"] if r["p99_ms"] else None,
            }

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "bench/peers/run.sh",
        "settings": {"requests": a.requests, "concurrency": a.concurrency, "warmup": a.warmup},
        "machine": machine(a.load_before),
        "versions": versions(a.cache),
        "results": rows,
    }
    a.latest.parent.mkdir(parents=True, exist_ok=True)
    a.latest.write_text(json.dumps(result, indent=2) + "\n")

    m = result["machine"]
    print()
    print(f"Peers on one flow: {a.requests} requests (+{a.warmup} warm-up) at concurrency {a.concurrency}, "
          f"{result['date']}, {m['nproc']} vCPU {m['cpu']}, kernel {m['kernel']}, load {m['load_average_before']}")
    print()
    head = ["engine", "durable ack", "req/s", "p50 ms", "p99 ms", "errors", "ERP sales orders", "Crossdock ÷ peer (req/s)"]
    table = []
    for r in rows:
        name = NAMES[r["peer"]]
        if r["status"] != "ok":
            table.append([name, SHORT[r["peer"]], "FAILED", "", "", "", "", "-"])
            continue
        ratio = r.get("crossdock_over_peer", {}).get("per_sec")
        table.append([
            name,
            SHORT[r["peer"]],
            f"{r['per_sec']:,.1f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            str(r["errors"]),
            f"{r['erp_sales_orders']:,} / {r['expected_sales_orders']:,}",
            "-" if ratio is None else f"{ratio:.2f}",
        ])
    widths = [max(len(str(x[i])) for x in [head] + table) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for t in table:
        print(line(t))
    for r in rows:
        if r["status"] != "ok":
            print(f"{NAMES[r['peer']]} failed: {r.get('reason', '')}")
    print()
    print("durable ack: what is on disk when the engine answers (see latest.json). "
          "* n8n records the execution, but a crash mid-flow is not resumed.")
    print(f"ERP sales orders: counted at the simulated ERP (warm-up included) / expected. Written to {a.latest}")


if __name__ == "__main__":
    main()
