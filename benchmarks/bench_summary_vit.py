"""Speed of `xncost summary` on ViT-B/16 at 224x224 (run by hand:
`PYTHONPATH=. python benchmarks/bench_summary_vit.py [--repeat 5]`).

Times, in one process after warm-up rounds: building the model, then in interleaved rounds (so
that load changes hit both alike) one plain forward pass (eval, `torch.no_grad()`: the fused
attention fast path) and `summary(model, (1, 3, 224, 224))`, which runs one forward pass under
the dispatch counter and prices every op under every convention; prints medians and spreads,
the counting overhead (summary / plain forward) and the load average, and checks the measured
17,563,828,224 float MACs. Also the command line, `xncost summary vit-b16 --input
1x3x224x224`, from interpreter start to exit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from xncost.models.transformers import vit_b16
from xncost.profile.summary import summary

VIT_B16_MACS = 17_563_828_224
SHAPE = (1, 3, 224, 224)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)


def line(label: str, times: list[float]) -> str:
    return (
        f"{label:<34} median {statistics.median(times):7.3f} s   "
        f"min {times[0]:7.3f} s   max {times[-1]:7.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line timing")
    args = parser.parse_args()
    torch.manual_seed(0)
    build = timed(vit_b16, args.repeat)
    model = vit_b16().eval()
    x = torch.randn(SHAPE)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    for _ in range(args.warmup):
        forward()
        s = summary(model, SHAPE)
    if s.totals["float_macs"] != VIT_B16_MACS or s.unknown_ops:
        sys.exit(f"summary measured {s.totals['float_macs']:,} MACs, {s.unknown_ops}")
    plain, counted = [], []
    for _ in range(args.repeat):
        plain += timed(forward, 1)
        counted += timed(lambda: summary(model, SHAPE), 1)
    plain.sort()
    counted.sort()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"ViT-B/16, input 1x3x224x224, {torch.get_num_threads()} threads, {args.repeat} runs, "
        f"load average {load}"
    )
    print(line("build vit_b16()", build))
    print(line("plain forward (eval, no_grad)", plain))
    print(line("summary (all conventions)", counted))
    ratio = statistics.median(counted) / statistics.median(plain)
    print(f"counting overhead: {ratio:.2f}x a plain forward; {VIT_B16_MACS:,} MACs measured")
    if not args.no_cli:
        cmd = [sys.executable, "-m", "xncost", "summary", "vit-b16", "--input", "1x3x224x224"]
        cli = timed(lambda: subprocess.run(cmd, check=True, capture_output=True), args.repeat)
        print(line("xncost summary vit-b16 (CLI)", cli))


if __name__ == "__main__":
    main()
