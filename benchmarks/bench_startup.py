"""Start-up benchmark: wall time of `xncost table5` (no --measure) from interpreter start.

Run by hand: `python benchmarks/bench_startup.py [--repeat 15]`. Prints the median and the
spread over repeats, and checks that the command imported neither torch, sympy nor pandas.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

PROBE = (
    "import sys\n"
    "from xncost.__main__ import main\n"
    "sys.argv = ['xncost', 'table5', '--format', 'csv', '--out', sys.argv[1]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "heavy = [m for m in ('torch', 'sympy', 'pandas', 'thop') if m in sys.modules]\n"
    "sys.stderr.write(','.join(heavy))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", PROBE, out], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if p.stderr.strip():
                sys.exit(f"table5 imported heavy modules: {p.stderr.strip()}")
    times.sort()
    print(
        f"xncost table5 (interpreter start to exit), {args.repeat} runs: "
        f"median {statistics.median(times) * 1000:.0f} ms, "
        f"min {times[0] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms; "
        "torch/sympy/pandas not imported"
    )


if __name__ == "__main__":
    main()
