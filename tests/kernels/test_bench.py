"""`xncost bench` and xncost.kernels.bench: rows, keys, shapes, theory columns (no timings)."""

import csv
import io
import json
from fractions import Fraction

import numpy as np
import pytest
from support import invoke

from xncost.errors import XncostError
from xncost.kernels import bench as kb
from xncost.kernels import bench_table as kt
from xncost.kernels import cases as kc
from xncost.kernels.machine import describe, describe_markdown

REQUIRED = [
    "layer",
    "shape",
    "float_s",
    "binary_s",
    "binary_with_packing_s",
    "measured_speedup",
    "theoretical_speedup",
    "word_bound",
    "inference_s",
    "inference_speedup",
]
TINY_CAPS = "caps_in=4,caps_out=3,dim_in=8,dim_out=16,batch=2"
FAST = ["--repeat", "1", "--min-time", "0"]


def bench(*args):
    return invoke(["bench", *args])


def test_json_keys_and_one_row_per_layer_and_shape():
    r = bench("--layer", "xnodr", "--shape", TINY_CAPS, *FAST, "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert set(REQUIRED) <= set(row)
    assert row["layer"] == "xnodr" and row["shape"] == TINY_CAPS
    for key in (
        "float_s",
        "binary_s",
        "binary_with_packing_s",
        "measured_speedup",
        "inference_s",
        "inference_speedup",
    ):
        assert isinstance(row[key], float) and row[key] > 0
    assert row["inference_speedup"] == pytest.approx(row["float_s"] / row["inference_s"], rel=0)
    assert row["word_bound"] == 8.0  # D = 8 bits in one 64-bit word


def test_shape_without_layer_runs_gemm_or_every_capsule_layer():
    r = bench("--shape", "3x70x5", "--shape", TINY_CAPS, *FAST, "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["layer"], x["shape"]) for x in rows] == [
        ("gemm", "3x70x5"),
        *((layer, TINY_CAPS) for layer in kc.bench_layers()[:-1]),
    ]
    assert {"xnodr", "xnidr", "xnbdr"} <= {x["layer"] for x in rows}
    assert rows[0]["word_bound"] == 35.0  # 70 bits in 2 words


def test_csv_starts_with_the_required_columns():
    r = bench(
        "--layer", "xnidr", "--shape", "caps_in=3,caps_out=2,batch=1", *FAST, "--format", "csv"
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1
    assert list(rows[0])[: len(REQUIRED)] == REQUIRED
    assert rows[0]["shape"] == "caps_in=3,caps_out=2,dim_in=8,dim_out=16,batch=1"


def test_table_format_lists_every_row():
    r = bench("--layer", "gemm", "--shape", "2x9x3", "--shape", "4x130x2", *FAST)
    assert r.exit_code == 0, r.output
    assert "2x9x3" in r.stdout and "4x130x2" in r.stdout


@pytest.mark.parametrize("width", [80, 100])
def test_table_fits_the_width_with_every_column(width, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    r = bench("--layer", "gemm", "--shape", "2x9x3", *FAST, "--torch")
    assert r.exit_code == 0, r.output
    assert max(len(line.rstrip()) for line in r.stdout.splitlines()) <= width
    rows = json.loads(
        bench("--layer", "gemm", "--shape", "2x9x3", *FAST, "--torch", "-f", "json").stdout
    )
    for col in kt.display_columns(rows)[2:]:  # one card per row: every column, whole
        assert f"│ {col} " in r.stdout, col
    assert "gemm 2x9x3" in r.stdout and "…" not in r.stdout


def test_md_format_has_the_display_columns():
    r = bench("--layer", "gemm", "--shape", "2x9x3", *FAST, "--format", "md")
    assert r.exit_code == 0, r.output
    head, rule, row = r.stdout.splitlines()
    assert head.startswith("| layer | shape | k |") and "[min, max]" in head
    assert rule.count("---|") == head.count(" | ") + 1 and "2x9x3" in row


BAD = [
    ["--layer", "gemm", "--shape", "8x0x9"],
    ["--layer", "gemm", "--shape", "8x9"],
    ["--layer", "gemm", "--shape", "axbxc"],
    ["--layer", "gemm", "--shape", "100000x100000x100000"],
    ["--layer", "xnodr", "--shape", "caps_in=0"],
    ["--layer", "xnodr", "--shape", "caps_in=1.5"],
    ["--layer", "xnodr", "--shape", "foo=3"],
    ["--layer", "xnidr", "--shape", "caps_in=2,caps_in=3"],
    ["--layer", "xnidr", "--shape", "caps_in"],
    ["--layer", "xnidr", "--shape", ","],
    ["--layer", "conv", "--shape", "2x2x2"],
    ["--shape", "2x2x2", "--format", "yaml"],
    ["--shape", "2x2x2", "--repeat", "0"],
    ["--shape", "2x2x2", "--threads", "0"],
    ["--shape", "2x2x2", "--threads", "65"],
    ["--shape", "2x2x2", "--threads", "2147483648"],
    ["--shape", "2x2x2", "--threads", "99999999999999999999"],
    ["--shape", "2x2x2", "--min-time", "nan"],
    ["--shape", "2x2x2", "--min-time", "inf"],
    ["--shape", "2x2x2", "--min-time", "-1"],
]


@pytest.mark.parametrize("args", BAD)
def test_bad_input_is_one_line_exit_2(args):
    r = bench(*args)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("xncost: error: ") and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "layer,text",
    [
        ("gemm", "8x0x9"),
        ("gemm", "1x2x3x4"),
        ("xnodr", "dim_in=-1"),
        ("xnidr", "batch=x"),
        ("xnodr", ""),
        ("dr", "caps_in=3"),
    ],
)
def test_parse_shape_raises_xncost_error(layer, text):
    with pytest.raises(XncostError):
        kc.parse_shape(layer, text)


def test_parse_shape_fills_the_paper_defaults():
    s = kc.parse_shape("xnidr", " caps_in=256 , batch=64 ")
    assert s == kc.CapsBenchShape(caps_in=256, caps_out=10, dim_in=8, dim_out=16, batch=64)
    assert kc.parse_shape("gemm", "1024X4096x1024") == kc.GemmShape(1024, 4096, 1024)
    assert kc.parse_shape("xnodr", s.spec()) == s


def test_default_rows_cover_the_paper_shapes_and_a_large_gemm():
    items = kb.default_items()
    shapes = {(layer, s.spec()) for layer, s in items}
    for layer in ("xnodr", "xnidr"):
        for n in (160, 256):
            assert (layer, f"caps_in={n},caps_out=10,dim_in=8,dim_out=16,batch=1") in shapes
    assert ("gemm", "1024x4096x1024") in shapes


def printed(x, extra):
    return Fraction(x, 1) / (Fraction(x, 64) + extra)


def test_theory_columns_follow_eqs_12_15_9_and_the_word_bound():
    n, m, d, e = 160, 10, 8, 16
    caps = kc.CapsBenchShape(caps_in=n)
    t = kc.theory("xnodr", caps)
    assert t["printed"] == printed(n * m * e * e * d, d)  # Eq. 12 as printed
    assert round(float(t["printed"]), 2) == 63.99  # Table 7
    assert t["word_bound"] == 8
    t = kc.theory("xnidr", caps)
    assert t["printed"] == printed(n * m * e * e, e)  # Eq. 15 as printed
    assert round(float(t["printed"]), 2) == 63.84  # Table 7
    assert t["word_bound"] == 16 and t["corrected"] == Fraction(64 * 16, 16 + 64)
    t = kc.theory("gemm", kc.GemmShape(4, 1000, 3))
    assert t["printed"] == Fraction(1000 * 12, 1) / (Fraction(1000 * 12, 64) + 12)  # Eq. 9
    assert t["word_bound"] == Fraction(1000, 16)


def test_check_case_catches_a_wrong_kernel():
    case = kc.make_case("gemm", kc.GemmShape(3, 20, 4))
    kc.check_case(case)  # the real kernels pass
    right = case.binary_fn
    case.binary_fn = lambda: right() + 1
    with pytest.raises(AssertionError):
        kc.check_case(case)


def test_measure_returns_paired_ratios_of_the_given_callables():
    case = kc.make_case("xnidr", kc.CapsBenchShape(caps_in=3, caps_out=2, batch=1))
    row = kb.measure(case, repeat=3, min_time=0)
    assert row["repeat"] == 3
    assert row["speedup_min"] <= row["measured_speedup"] <= row["speedup_max"]
    assert row["float_iqr_s"] >= 0 and row["binary_iqr_s"] >= 0
    assert row["dot_length"] == 16 and row["theoretical_equation"] == "Eq. 15"


@pytest.mark.parametrize("min_time", [float("nan"), float("inf"), -1.0])
def test_measure_rejects_a_non_finite_or_negative_min_time(min_time):
    case = kc.make_case("gemm", kc.GemmShape(3, 20, 4))
    with pytest.raises(XncostError, match="min_time"):
        kb.measure(case, repeat=1, min_time=min_time)


def test_outputs_are_int32_like_the_float32_baseline():
    case = kc.make_case("xnodr", kc.CapsBenchShape(caps_in=3, caps_out=2, batch=2))
    assert case.binary_fn().dtype == np.int32
    assert case.packing_fn().dtype == np.int32


def test_machine_description_has_versions_and_cpu(tmp_path):
    info = describe()
    assert info["numpy"] == np.__version__
    assert info["logical_cpus"] and info["logical_cpus"] >= 1
    fake = tmp_path / "cpuinfo"
    fake.write_text(
        "processor\t: 0\nmodel name\t: Test CPU @ 1GHz\nphysical id\t: 0\ncore id\t: 0\n"
        "flags\t\t: fpu popcnt avx2\n\nprocessor\t: 1\nmodel name\t: Test CPU @ 1GHz\n"
        "physical id\t: 0\ncore id\t: 1\nflags\t\t: fpu popcnt avx2\n"
    )
    info = describe(str(fake))
    assert info["cpu_model"] == "Test CPU @ 1GHz" and info["physical_cores"] == 2
    assert info["cpu_flags"] == "popcnt avx2"
    assert "- CPU: Test CPU @ 1GHz" in describe_markdown(info)


def test_an_unusable_forced_instruction_set_is_one_line_exit_2(monkeypatch):
    from xncost.kernels import packed

    monkeypatch.setattr(packed, "COMPILED", True)
    monkeypatch.setattr(packed, "ISA_ERROR", "XNCOST_KERNEL_ISA=avx512: this CPU cannot run it")
    r = bench("--shape", "2x2x2", *FAST)
    assert r.exit_code == 2
    assert r.stderr.strip().startswith("xncost: error: ") and "cannot run" in r.stderr
    assert "\n" not in r.stderr.strip()


def test_inference_packs_activations_per_call_and_weights_once(monkeypatch):
    """The inference callable packs only activations; the kernel-only one packs nothing."""
    from xncost.kernels import packed

    calls = []
    real = packed.pack_signs

    def counting(x, axis=-1, **kw):
        calls.append(x.shape)
        return real(x, axis, **kw)

    monkeypatch.setattr(packed, "pack_signs", counting)
    for layer, shape, packed_per_call in (
        ("gemm", kc.GemmShape(5, 70, 3), [(5, 70)]),
        ("xnodr", kc.CapsBenchShape(caps_in=3, caps_out=2, batch=2), [(2, 3, 8)]),
        ("xnidr", kc.CapsBenchShape(caps_in=3, caps_out=2, batch=2), [(2, 3, 2, 16), (2, 2, 16)]),
    ):
        case = kc.make_case(layer, shape)
        calls.clear()
        case.binary_fn()
        assert calls == []
        case.inference_fn()
        assert calls == packed_per_call
        kc.check_case(case)
