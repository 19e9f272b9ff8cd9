"""Many cameras, one server: 1, 2, 4, 8 concurrent clients sending batch-1 requests (what one camera's
events are) to one Triton server — the real core, tests/helpers/triton_server.py — beside the same
number of clients each running the model locally, in the same run; for each dynamic-batching queue
delay. Printed as JSON (and ``--markdown`` the README's table):

- throughput (requests/s, all clients together), p50/p99 request latency seen by the clients;
- the batch sizes the server executed (its statistics endpoint, the difference over the run);
- the server's resident memory (tritonserver and its backend stubs, from /proc).

    python tests/helpers/triton_server.py setup
    python benchmarks/bench_server.py --repo runs/triton-repo --local runs/local-bundle --markdown

Each client is a process (a camera host); on a 2-core machine the clients, the server and the local
engines share the same two cores, so the local column is what the same cores do without a server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CLIENT = r"""
import json, sys, time
import numpy as np
from pathlib import Path
from mpt_edge.bundle import load_bundle
from mpt_edge.engines import open_bundle_engine
bundle = load_bundle(Path(sys.argv[1]))
server = sys.argv[2] or None
engine = open_bundle_engine(bundle, precision=sys.argv[3], server=server, log=lambda m: None)
rng = np.random.default_rng(0)
feeds = {n: rng.standard_normal(tuple(s), dtype=np.float32) for n, s in bundle.inputs.items()}
for _ in range(3):
    engine.infer(feeds)
start_at = float(sys.argv[5])
while time.time() < start_at:
    time.sleep(0.001)
times, end = [], start_at + float(sys.argv[4])
while time.time() < end:
    began = time.perf_counter()
    engine.infer(feeds)
    times.append((time.perf_counter() - began) * 1000)
print(json.dumps(times))
"""


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the Python backend's stubs)."""
    total, pids = 0, [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            pids += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def batch_counts(url: str, model: str) -> dict[int, int]:
    from tritonclient.grpc import InferenceServerClient

    stats = InferenceServerClient(url[len("grpc://") :]).get_inference_statistics(model, as_json=True)
    return {
        int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats["model_stats"][0].get("batch_stats", [])
    }


def run_clients(bundle: Path, server: str, precision: str, clients: int, seconds: float) -> dict[str, Any]:
    start_at = time.time() + 4.0  # every client loaded and warm before the clock starts
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(bundle), server, precision, str(seconds), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(clients)
    ]
    times = []
    for process in processes:
        out, err = process.communicate(timeout=seconds + 120)
        if process.returncode != 0:
            raise SystemExit(f"client failed: {err.strip().splitlines()[-1] if err.strip() else process.returncode}")
        times += json.loads(out.strip().splitlines()[-1])
    times.sort()
    return {
        "requests": len(times),
        "throughput_per_s": round(len(times) / seconds, 1),
        "latency_ms": {
            "p50": round(statistics.median(times), 2),
            "p99": round(times[min(len(times) - 1, int(0.99 * len(times)))], 2),
        },
    }


def with_delay(repo: Path, delay_us: int, into: Path) -> Path:
    """A copy of the repository with another dynamic-batching queue delay (its manifest unchanged)."""
    copy = into / f"repo-{delay_us}"
    shutil.copytree(repo, copy)
    for config in copy.glob("*/config.pbtxt"):
        text = config.read_text()
        start = text.index("max_queue_delay_microseconds:")
        end = text.index("}", start)
        config.write_text(text[:start] + f"max_queue_delay_microseconds: {delay_us} " + text[end:])
    return copy


def markdown(report: dict[str, Any]) -> str:
    rows = [
        (
            "| queue delay | clients | server: requests/s | p50 / p99 ms | batch sizes "
            "executed (count) | server RSS MB | local engines: requests/s | p50 / p99 ms |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for delay, runs in report["by_delay_us"].items():
        for clients, r in runs.items():
            s, lo = r["server"], r["local"]
            batches = ", ".join(f"{k}: {v}" for k, v in sorted(r["batches"].items(), key=lambda kv: int(kv[0])))
            rows.append(
                f"| {delay} µs | {clients} | {s['throughput_per_s']} | {s['latency_ms']['p50']} / "
                f"{s['latency_ms']['p99']} | {batches} | "
                f"{r['server_rss_mb']} | {lo['throughput_per_s']} | {lo['latency_ms']['p50']} / "
                f"{lo['latency_ms']['p99']} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True, help="a bundle from `mpt-edge build --target triton-cpu`")
    parser.add_argument(
        "--local",
        type=Path,
        required=True,
        help="a local bundle of the same checkpoint (e.g. --target onnxruntime-cpu)",
    )
    parser.add_argument("--precision", default="fp32", help="the repository's model to serve (int8 or fp32)")
    parser.add_argument("--clients", default="1,2,4,8")
    parser.add_argument("--delays-us", default="0,2000,8000", help="dynamic batching queue delays to compare")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from helpers import triton_server

    from mpt_edge.bundle import load_bundle
    from mpt_edge.precision import cpu_model_and_flags

    model = load_bundle(args.repo).manifest.triton_models[args.precision]
    counts = [int(c) for c in args.clients.split(",")]
    report: dict[str, Any] = {
        "benchmark": "server",
        "machine": {"cpu": cpu_model_and_flags()[0], "cores": os.cpu_count()},
        "model": model,
        "seconds": args.seconds,
        "by_delay_us": {},
    }
    with tempfile.TemporaryDirectory(prefix="mpt-edge-bench-server-") as scratch:
        for delay in (int(d) for d in args.delays_us.split(",")):
            repo = with_delay(args.repo, delay, Path(scratch))
            work = Path(scratch) / f"server-{delay}"
            work.mkdir()
            server = triton_server.start(repo, work)
            runs = {}
            try:
                for clients in counts:  # interleaved: the server, then the same clients locally
                    before = batch_counts(server.grpc_url, model)
                    served = run_clients(
                        args.repo, server.grpc_url, args.precision, clients, args.seconds
                    )  # the host keeps the original
                    after = batch_counts(server.grpc_url, model)
                    rss = round(tree_rss_mb(server.process.pid), 1)
                    local = run_clients(args.local, "", "fp32", clients, args.seconds)
                    runs[clients] = {
                        "server": served,
                        "local": local,
                        "server_rss_mb": rss,
                        "batches": {
                            size: after.get(size, 0) - before.get(size, 0)
                            for size in after
                            if after.get(size, 0) > before.get(size, 0)
                        },
                    }
            finally:
                server.stop()
            report["by_delay_us"][delay] = runs
    print(json.dumps(report, indent=2))
    if args.markdown:
        print(markdown(report))


if __name__ == "__main__":
    main()
