"""How long the command line takes to answer before any model work: ``gam-viewer --help``,
``gam-viewer data synth --help`` and ``gam-viewer info --help``, and which heavy packages each
imports (torch, PySide6, cv2). Each command runs in a fresh interpreter, ``--repeat`` times.

    python benchmarks/startup.py [--repeat 5] [--tree PATH] [--out benchmarks/results/startup-cpu.json]

``--tree`` times another checkout (e.g. an older commit in a git worktree) with the same
interpreter, for before/after tables.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["data", "synth", "--help"], ["info", "--help"])
HEAVY = ("torch", "PySide6", "cv2")


def _run(tree: Path, args, importtime: bool):
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-m", "gam_viewer", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {tree}: {proc.stderr.strip().splitlines()[-1:]}")
    return dt, proc.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tree = Path(args.tree).resolve()
    rows = []
    for c in COMMANDS:
        _, log = _run(tree, c, importtime=True)
        tops = {line.rsplit("|", 1)[-1].strip() for line in log.splitlines() if line.startswith("import time:")}
        loaded = [m for m in HEAVY if m in tops]
        times = [_run(tree, c, importtime=False)[0] * 1e3 for _ in range(args.repeat)]
        rows.append({"command": "gam-viewer " + " ".join(c), "median_ms": round(statistics.median(times), 1),
                     "min_ms": round(min(times), 1), "imports": loaded})
    print(f"{'command':34s} {'median ms':>10s} {'min ms':>8s}  heavy imports")
    for r in rows:
        print(f"{r['command']:34s} {r['median_ms']:10.1f} {r['min_ms']:8.1f}  {', '.join(r['imports']) or '-'}")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "tree": str(tree), "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "repeat": args.repeat, "rows": rows,
        }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
