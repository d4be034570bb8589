"""Start-up time: ``import equipot``, ``equipot --help`` and loading the calculator, for two
checkouts, each run a new Python process; ``import torch`` alone as the floor.

    git worktree add /tmp/equipot_base 0210e74     # the code before
    python benchmarks/bench_startup.py --before /tmp/equipot_base/src --after src --runs 5

Prints the median wall time (s) of ``--runs`` processes per command and checkout, the
commands taking turns so that a slow spell of a shared machine hits all of them alike,
and which heavy libraries each command loaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "torch._inductor", "e3nn", "ase", "lightning", "matplotlib", "phonopy", "spglib", "tblite")

COMMANDS = {
    "import torch (floor)": "import torch",
    "import equipot": "import equipot",
    "equipot --help": "import sys; sys.argv = ['equipot', '--help']\nfrom equipot.cli.main import app\ntry:\n    app()\nexcept SystemExit:\n    pass",
    "from equipot import EquipotCalculator, load_model": "from equipot import EquipotCalculator, load_model",
}


def run(code: str, src: str) -> tuple[float, list[str]]:
    """Wall time of a new process running ``code`` with ``src`` first on the path, and the
    heavy modules it had loaded at the end."""
    script = f"{code}\nimport sys as _sys\n_sys.stderr.write(' '.join(m for m in {HEAVY!r} if m in _sys.modules))"
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stderr.strip().splitlines()[-1].split() if result.stderr.strip() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="src folder of the code before")
    parser.add_argument("--after", default="src", help="src folder of the code after")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    checkouts = {"before": args.before, "after": args.after}
    times: dict[tuple[str, str], list[float]] = {}
    loaded: dict[tuple[str, str], list[str]] = {}
    for _ in range(args.runs):
        for name, code in COMMANDS.items():
            for label, src in checkouts.items():
                if name.endswith("(floor)") and label == "after":
                    continue
                seconds, modules = run(code, src)
                times.setdefault((name, label), []).append(seconds)
                loaded[(name, label)] = modules
    print(f"median of {args.runs} new processes each, {sys.executable}")
    print("| command | before (s) | after (s) | heavy modules loaded after |")
    print("| --- | --- | --- | --- |")
    for name in COMMANDS:
        before = statistics.median(times[(name, "before")])
        after = "" if name.endswith("(floor)") else f"{statistics.median(times[(name, 'after')]):.2f}"
        modules = ", ".join(loaded.get((name, "after"), loaded[(name, "before")])) or "none"
        print(f"| `{name}` | {before:.2f} | {after} | {modules} |")


if __name__ == "__main__":
    main()
