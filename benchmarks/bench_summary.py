"""Summary benchmark: time of `xncost.profile.summary.summary` on Bi-Real Net-18 at 224.

Run by hand: `python benchmarks/bench_summary.py [--repeat 5] [--model birealnet18]`. For
each model (xncost's own `birealnet18`, and the public-style Bi-Real Net-18 of
`tests/fixtures/public_style/birealnet.py`, counted with no registration) it builds the model
once and times, in one process: the first summary (dispatch-mode warm-up included), then
`--repeat` rounds of a plain forward pass under `torch.no_grad()` (the floor) and a summary,
interleaved; it prints min and median of each and the ratio of the minima. The machine is
shared: the load average is printed beside the times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from xncost.profile.summary import build_registry_model, fixed_seed, summary

PUBLIC = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "public_style"


def _models(names: list[str]) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    out = {}
    for name in names:
        with fixed_seed():
            if name == "public-birealnet18":
                sys.path.insert(0, str(PUBLIC))
                import birealnet

                out[name] = (birealnet.birealnet18(), (1, 3, 224, 224))
            else:
                out[name] = build_registry_model(name)
    return out


def _timed(run) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def bench(name: str, model: torch.nn.Module, shape: tuple[int, ...], repeat: int) -> str:
    """One line: plain forward, first and median summary of `model` on `shape`."""
    model.eval()
    x = torch.randn(shape)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def count() -> None:
        summary(model, shape, convention="bnn")

    forward()
    first = _timed(count)
    plain, warm = [], []
    for _ in range(repeat):  # interleaved, so load changes hit both alike
        plain.append(_timed(forward))
        warm.append(_timed(count))
    t = summary(model, shape, convention="bnn").totals
    return (
        f"{name} {'x'.join(map(str, shape))}: plain forward min {min(plain):.3f} s, median "
        f"{statistics.median(plain):.3f} s; summary first {first:.3f} s, min {min(warm):.3f} s, "
        f"median {statistics.median(warm):.3f} s ({min(warm) / min(plain):.1f}x the forward); "
        f"1-bit MACs {t['binary_macs']:,}, float MACs {t['float_macs']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--model", action="append", help="birealnet18 (default) and public-birealnet18"
    )
    args = parser.parse_args()
    names = args.model or ["birealnet18", "public-birealnet18"]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for name, (model, shape) in _models(names).items():
        print(bench(name, model, shape, args.repeat))


if __name__ == "__main__":
    main()
