"""Kernel benchmarks: packed XNOR-popcount (numpy) against float32 matmul; writes reports/speed.md.

Run by hand from the repository root:

    python benchmarks/bench_kernels.py              # about a minute on 2 cores
    python benchmarks/bench_kernels.py --quick      # smoke run, small shapes

Rows: the paper's shapes (N = 160 and 256, M = 10, D = 8, E = 16, B = 1), batch 64, a
word-utilisation sweep (D or E = 8, 64, 256 at batch 64), and GEMMs including 1024x4096 by
4096x1024 (binary with all CPUs and with one thread). Optionally a plain C kernel compiled
on the spot (`cc -O3 -march=native`, one thread, via ctypes) shows what a compiled
XNOR-popcount loop does on the same data; it is a reference, not part of xncost.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from xncost.kernels import bench as kb  # noqa: E402
from xncost.kernels import packed  # noqa: E402
from xncost.kernels.machine import describe, describe_markdown  # noqa: E402
from xncost.render import write_atomic  # noqa: E402

Caps = kb.CapsBenchShape
PAPER = [Caps(caps_in=160), Caps(caps_in=256)]

C_SOURCE = r"""
#include <stddef.h>
#include <stdint.h>
/* a: [m, w] words, b: [n, w] words -> out [m, n] = k - 2 popcount(a ^ b) */
void gemm(const uint64_t *a, const uint64_t *b, int32_t *out, long m, long n, long w, long k) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            long s = 0;
            for (long q = 0; q < w; q++) s += __builtin_popcountll(a[i * w + q] ^ b[j * w + q]);
            out[i * n + j] = (int32_t)(k - 2 * s);
        }
}
/* XnODR, one word per dot product: u [B, N], w [N, M*E] -> out [B, N, M*E] */
void xnodr(const uint64_t *u, const uint64_t *w, int32_t *out, long B, long N, long ME, long k) {
    for (long b = 0; b < B; b++)
        for (long n = 0; n < N; n++) {
            uint64_t x = u[b * N + n];
            const uint64_t *wn = w + n * ME;
            int32_t *o = out + (b * N + n) * ME;
            for (long j = 0; j < ME; j++)
                o[j] = (int32_t)(k - 2 * __builtin_popcountll(x ^ wn[j]));
        }
}
/* XnIDR, one word per dot product: u [B, N, M], v [B, M] -> out [B, N, M] */
void xnidr(const uint64_t *u, const uint64_t *v, int32_t *out, long B, long N, long M, long k) {
    for (long b = 0; b < B; b++)
        for (long n = 0; n < N; n++) {
            const uint64_t *un = u + (b * N + n) * M, *vb = v + b * M;
            int32_t *o = out + (b * N + n) * M;
            for (long j = 0; j < M; j++)
                o[j] = (int32_t)(k - 2 * __builtin_popcountll(un[j] ^ vb[j]));
        }
}
"""


def compile_reference(workdir: Path) -> ctypes.CDLL | None:
    """Build the C reference kernels, or None if no C compiler works here."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src, lib = workdir / "xnor_ref.c", workdir / "xnor_ref.so"
    src.write_text(C_SOURCE)
    cmd = [cc, "-O3", "-march=native", "-shared", "-fPIC", "-o", str(lib), str(src)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        return None
    dll = ctypes.CDLL(str(lib))
    for name in ("gemm", "xnodr", "xnidr"):
        getattr(dll, name).argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_long] * 4
        getattr(dll, name).restype = None
    return dll


def _ptr(x: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(x.ctypes.data)


def c_reference_rows(
    lib: ctypes.CDLL, repeat: int, min_time: float, quick: bool = False
) -> list[dict[str, Any]]:
    """float32 numpy vs the C kernel on the same packed words, interleaved."""
    rows = []
    small: list[tuple[str, Any]] = [
        ("xnodr", Caps(caps_in=16, batch=2)),
        ("xnidr", Caps(caps_in=16, batch=2)),
        ("gemm", kb.GemmShape(16, 200, 8)),
    ]
    items: list[tuple[str, Any]] = (
        small
        if quick
        else [
            ("xnodr", Caps(caps_in=160)),
            ("xnidr", Caps(caps_in=160)),
            ("xnodr", Caps(caps_in=256, batch=64)),
            ("xnidr", Caps(caps_in=256, batch=64)),
            ("gemm", kb.GemmShape(1024, 4096, 1024)),
        ]
    )
    for layer, s in items:
        case = kb.make_case(layer, s)
        rng = np.random.default_rng(0)
        if layer == "gemm":
            a = packed.pack_signs(rng.standard_normal((s.m, s.k)), 1).words
            b = packed.pack_signs(rng.standard_normal((s.k, s.n)), 0).words
            out = np.empty((s.m, s.n), np.int32)
            want = packed.binary_gemm(a, b, s.k)

            def c_fn(a=a, b=b, out=out, s=s) -> np.ndarray:
                lib.gemm(_ptr(a), _ptr(b), _ptr(out), s.m, s.n, a.shape[1], s.k)
                return out

        elif layer == "xnodr":
            n, m, d, e, bsz = s.caps_in, s.caps_out, s.dim_in, s.dim_out, s.batch
            pu = packed.pack_signs(rng.standard_normal((bsz, n, d)))
            pw = packed.pack_signs(rng.standard_normal((n, m, d, e)), 2)
            u, w = np.ascontiguousarray(pu.words[..., 0]), np.ascontiguousarray(pw.words[..., 0])
            out = np.empty((bsz, n, m, e), np.int32)
            want = packed.xnodr_projector(pu, pw)

            def c_fn(u=u, w=w, out=out, s=s) -> np.ndarray:
                me = s.caps_out * s.dim_out
                lib.xnodr(_ptr(u), _ptr(w), _ptr(out), s.batch, s.caps_in, me, s.dim_in)
                return out

        else:
            n, m, e, bsz = s.caps_in, s.caps_out, s.dim_out, s.batch
            pu = packed.pack_signs(rng.standard_normal((bsz, n, m, e)))
            pv = packed.pack_signs(rng.standard_normal((bsz, m, e)))
            u, v = np.ascontiguousarray(pu.words[..., 0]), np.ascontiguousarray(pv.words[..., 0])
            out = np.empty((bsz, n, m), np.int32)
            want = packed.xnidr_agreement(pu, pv)

            def c_fn(u=u, v=v, out=out, s=s) -> np.ndarray:
                lib.xnidr(_ptr(u), _ptr(v), _ptr(out), s.batch, s.caps_in, s.caps_out, s.dim_out)
                return out

        got = c_fn()
        if not np.array_equal(got, want):
            raise AssertionError(f"C reference disagrees with the numpy kernel on {layer}")
        samples, _ = kb._interleaved(
            {"float": case.float_fn, "numpy": case.binary_fn, "c": c_fn}, repeat, min_time
        )
        rows.append(
            {
                "layer": layer,
                "shape": s.spec(),
                "float_s": statistics.median(samples["float"]),
                "numpy_s": statistics.median(samples["numpy"]),
                "c_s": statistics.median(samples["c"]),
                "numpy_speedup": statistics.median(kb._paired(samples["float"], samples["numpy"])),
                "c_speedup": statistics.median(kb._paired(samples["float"], samples["c"])),
            }
        )
    return rows


def packing_rows(repeat: int, min_time: float) -> list[dict[str, Any]]:
    """Binarize-and-pack time of each operand at the paper's shapes (float32 input)."""
    rng = np.random.default_rng(0)
    rows = []
    for s in PAPER:
        n, m, d, e = s.caps_in, s.caps_out, s.dim_in, s.dim_out
        ops = {
            "XnODR input u [1, N, D] over D": (rng.standard_normal((1, n, d), np.float32), -1),
            "XnODR weights W [N, M, D, E] over D": (
                rng.standard_normal((n, m, d, e), np.float32),
                2,
            ),
            "XnIDR u_hat [1, N, M, E] over E": (
                rng.standard_normal((1, n, m, e), np.float32),
                -1,
            ),
            "XnIDR v [1, M, E] over E": (rng.standard_normal((1, m, e), np.float32), -1),
        }
        fns = {
            name: (lambda x=x, ax=ax: packed.pack_signs(x, axis=ax))
            for name, (x, ax) in ops.items()
        }
        samples, _ = kb._interleaved(fns, repeat, min_time)
        for name, (x, _ax) in ops.items():
            rows.append(
                {
                    "caps_in": n,
                    "operand": name,
                    "elements": x.size,
                    "seconds": statistics.median(samples[name]),
                }
            )
    return rows


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _row(rows: list[dict[str, Any]], layer: str, spec: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["layer"] == layer and r["shape"] == spec), None)


def _sweep_text(main: list[dict[str, Any]], sweep: list[dict[str, Any]]) -> str:
    """The measured ratio by dot length k at batch 64, per layer (data of this run)."""
    parts = []
    for layer in ("xnodr", "xnidr"):
        rows = [r for r in main + sweep if r["layer"] == layer and r["shape"].endswith("=64")]
        rows.sort(key=lambda r: r["dot_length"])
        if len(rows) > 1:
            parts.append(
                f"{layer}: "
                + ", ".join(f"k={r['dot_length']} {_fmt(r['measured_speedup'])}x" for r in rows)
            )
    if not parts:
        return ""
    return (
        "Word-utilisation sweep at batch 64 (kernel only): "
        + "; ".join(parts)
        + ". Within one word a longer dot product puts more useful bits into each XOR and "
        "popcount, but the ratio also follows the float side and the kernel's data path: "
        "XnODR's float matmuls ([B, D] x [D, M·E] per input capsule) get more efficient as D "
        "grows; the numpy kernel handles k <= 8 in 1-byte lanes but 8 < k <= 64 in whole "
        "uint64 words (8 times the bytes per pass, and numpy's popcount takes longer per "
        "uint64 element than per uint8 one), and past one word it adds one pass per word.\n"
    )


def explanation(
    main: list[dict[str, Any]], c_rows: list[dict[str, Any]], sweep: list[dict[str, Any]]
) -> str:
    """Why the paper's shapes measure far below Eqs. 12 and 15 (figures from this run)."""
    lines = ["## Why the measured ratio is not 63.99 / 63.84", ""]
    paper = [_row(main, layer, s.spec()) for layer in ("xnodr", "xnidr") for s in PAPER]
    paper = [r for r in paper if r is not None]
    if paper:
        lines.append(
            "Measured at the paper's shapes (B = 1): "
            + "; ".join(
                f"{r['layer']} N={r['shape'].split(',')[0].split('=')[1]}: "
                f"{_fmt(r['measured_speedup'])}x kernel only, "
                f"{_fmt(r['measured_speedup_with_packing'])}x with binarization and packing "
                f"(Eq. {r['theoretical_equation']}: {_fmt(r['theoretical_speedup'])})"
                for r in paper
            )
            + "."
        )
        lines.append("")
    gemm = _row(main, "gemm", "1024x4096x1024")
    c_gemm = next((r for r in c_rows if r["layer"] == "gemm"), None)
    c_small = next((r for r in c_rows if r["layer"] == "xnodr" and "batch=1" in r["shape"]), None)
    xnidr64 = _row(main, "xnidr", Caps(caps_in=256, batch=64).spec())
    blas = ""
    if gemm:
        ns = gemm["float_s"] / (1024 * 4096 * 1024 / 64) * 1e9
        blas = f" (here {ns:.2f} ns per 64 multiply-accumulates in the 1024x4096x1024 GEMM)"
    lines += [
        "1. **Word utilisation.** Eqs. 12 and 15 divide all the multiply-accumulates by 64, "
        "as if every 64-bit XNOR and popcount replaced 64 of them. A dot product of length "
        "k fills only k bits of its word: XnODR's dot products have D = 8 bits (8 of 64 used), "
        "XnIDR's have E = 16 (16 of 64), so even ideal 64-bit hardware gains at most "
        "k / ceil(k/64) = 8 and 16 (`word_bound`). Eq. 9's own reading, one non-binary "
        "operation per output, gives 64k / (k + 64) = 7.11 and 12.80 (`corrected_speedup`). "
        "The printed 63.99 / 63.84 come from charging the non-binary work once per layer "
        "(+ D, + E) instead of once per output.",
        "2. **Binarization and packing.** The sign test and the bit packing read every float "
        "operand once and write it back as bits: as much memory traffic as the float dot "
        "products themselves when k is 8 or 16, and XnODR also packs its weights "
        "(Table 2 binarizes W_Cap each pass; they are most of the packing time). The "
        "`with packing` column shows the ratio falling well below the kernel-only ratio; "
        "the packing table above gives the cost per operand.",
        "3. **Memory traffic.** With 8 or 16 multiply-accumulates per output, both the "
        "float and the binary versions spend their time moving data (reading operands, "
        "writing the N·M·E or N·M results), not computing; the binary kernel writes as many "
        "int32 results as float writes float32 ones."
        + (
            f" Even the compiled C loop reaches only {_fmt(c_small['c_speedup'])}x at "
            f"{c_small['shape']}."
            if c_small
            else ""
        )
        + (
            f" Where the binary kernel does win, XnIDR at batch 64 "
            f"({_fmt(xnidr64['measured_speedup'])}x), it is because its operand is already "
            "packed: one 8-byte word per 16 floats (64 bytes) of u_hat, while float matmul "
            "reads, and for the layout BLAS needs copies, the float32 array; counting the "
            f"packing, the ratio is {_fmt(xnidr64['measured_speedup_with_packing'])}x."
            if xnidr64
            else ""
        ),
        "4. **Python/numpy call overhead.** At B = 1 XnODR has 25,600 (N=160) or 40,960 "
        "outputs and XnIDR 1,600 or 2,560: microseconds of work. The packed kernel is about "
        "six numpy calls (about 1-2 µs each on this machine) against one BLAS call for "
        "float, so call overhead, not arithmetic, sets both times.",
        "5. **No fused XOR-popcount in numpy.** XOR, popcount and accumulate are separate "
        "passes over memory, and numpy's uint64 `bitwise_count` ran at roughly 0.4-1 ns per "
        "word in our measurements, while BLAS does 64 float32 multiply-accumulates in well "
        "under a nanosecond on two AVX-512 cores" + blas + ". So even the full-word GEMM "
        "(bound 64) measures "
        + (f"{_fmt(gemm['measured_speedup'])}x" if gemm else "below 1x")
        + (
            f"; a plain compiled loop on the same words gives {_fmt(c_gemm['c_speedup'])}x "
            f"(numpy kernel {_fmt(c_gemm['numpy_speedup'])}x in the same run)."
            if c_gemm
            else "."
        ),
        "",
        _sweep_text(main, sweep),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "speed.md")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch baseline")
    ap.add_argument("--no-c-reference", action="store_true", help="skip the C reference")
    ap.add_argument("--quick", action="store_true", help="small shapes, 2 repeats (smoke run)")
    args = ap.parse_args(argv)
    repeat, min_time = (2, 0.005) if args.quick else (args.repeat, args.min_time)
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")

    if args.quick:
        main_items = [
            ("xnodr", Caps(caps_in=16)),
            ("xnidr", Caps(caps_in=16)),
            ("gemm", kb.GemmShape(64, 256, 64)),
        ]
        sweep_items: list[tuple[str, Any]] = [("xnodr", Caps(caps_in=16, dim_in=64))]
    else:
        main_items = kb.default_items()
        sweep_items = [("xnodr", Caps(caps_in=256, dim_in=d, batch=64)) for d in (64, 256)] + [
            ("xnidr", Caps(caps_in=256, dim_out=e, batch=64)) for e in (8, 64, 256)
        ]
    print(f"main rows ({len(main_items)}) ...", flush=True)
    main_rows = kb.run_bench(main_items, repeat, min_time, use_torch=not args.no_torch)
    print("word-utilisation sweep ...", flush=True)
    sweep_rows = kb.run_bench(sweep_items, repeat, min_time)
    big = kb.GemmShape(64, 256, 64) if args.quick else kb.GemmShape(1024, 4096, 1024)
    print("gemm with one thread ...", flush=True)
    one_thread = kb.run_bench([("gemm", big)], repeat, min_time, threads=1)
    print("packing ...", flush=True)
    pack_rows = packing_rows(repeat, min_time)
    c_rows: list[dict[str, Any]] = []
    if not args.no_c_reference:
        with tempfile.TemporaryDirectory() as tmp:
            lib = compile_reference(Path(tmp))
            if lib is not None:
                print("C reference ...", flush=True)
                c_rows = c_reference_rows(lib, repeat, min_time, args.quick)
    load_after = os.getloadavg()

    info = describe()
    text = [
        "# Measured speed of the packed XNOR kernels",
        "",
        "Generated by `python benchmarks/bench_kernels.py`"
        + (" --quick" if args.quick else "")
        + f" on {started}. Times are medians of {repeat} interleaved samples (± half the "
        "interquartile range), each sample lasting at least "
        f"{min_time:g} s; a speed-up is the median of the paired per-sample ratios float / "
        "binary, so load changes during the run affect both sides alike. Load average "
        f"(1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after: the machine is "
        "shared, so absolute times vary between runs; the ratios are the result.",
        "",
        "## Machine",
        "",
        describe_markdown(info),
        "",
        "## What is timed",
        "",
        "- **float (numpy)**: the same dot products in float32 with numpy's BLAS matmul "
        "(XnODR: per input capsule, [B, D] x [D, M·E] with the weights laid out once; XnIDR: "
        "per (sample, output capsule), [N, E] x [E]; GEMM: A @ B). **float (torch)**: the "
        "same matmuls in torch, timed in a separate interleaved loop against the binary "
        "kernel (after a numpy BLAS call OpenBLAS threads keep spinning and slow a torch "
        "call on two cores, and vice versa). torch runs its intra-op threads even on tiny "
        "matmuls; on this shared two-core machine a busy second core stalls their "
        "synchronisation, so its small-shape times measure that, not arithmetic.",
        "- **binary**: `xncost.kernels.packed` on packed operands (int32 results, as wide "
        "as float32).",
        "- **binary + packing**: binarization (sign, 0 -> -1) and packing of every operand "
        "from float32, then the kernel.",
        "- **theoretical (Eq.)**: Eq. 12 (xnodr) and Eq. 15 (xnidr) as printed; Eq. 9 for "
        "GEMM with c·N_W = K and N_I = M·N. **Eq. 9 corrected**: 64k / (k + 64), one "
        "non-binary operation per output. **word bound**: k / ceil(k / 64).",
        "",
        "## Paper shapes, batch 64 and GEMM",
        "",
        kb.rows_markdown(main_rows),
        "Binary GEMM with one thread (numpy's BLAS still uses all CPUs):",
        "",
        kb.rows_markdown(one_thread),
        "## Word-utilisation sweep (batch 64)",
        "",
        kb.rows_markdown(sweep_rows),
        "## Binarization and packing per operand (paper shapes, B = 1)",
        "",
        "| N | operand | elements | time |",
        "|---|---|---|---|",
        *(
            f"| {r['caps_in']} | {r['operand']} | {r['elements']:,} | "
            f"{kb.human_seconds(r['seconds'])} |"
            for r in pack_rows
        ),
        "",
    ]
    if c_rows:
        text += [
            "## Reference: a compiled XNOR-popcount loop (not part of xncost)",
            "",
            "A plain C loop (`cc -O3 -march=native`, one thread, `__builtin_popcountll`, no "
            "blocking) on the same packed words, called through ctypes, interleaved with "
            "numpy float32 and the numpy kernel:",
            "",
            "| layer | shape | float (numpy) | numpy kernel | C loop | float / numpy kernel | "
            "float / C loop |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {r['layer']} | {r['shape']} | {kb.human_seconds(r['float_s'])} | "
                f"{kb.human_seconds(r['numpy_s'])} | {kb.human_seconds(r['c_s'])} | "
                f"{_fmt(r['numpy_speedup'])} | {_fmt(r['c_speedup'])} |"
                for r in c_rows
            ),
            "",
        ]
    text.append(explanation(main_rows, c_rows, sweep_rows))
    write_atomic(args.out, "\n".join(text))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
