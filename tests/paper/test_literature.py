"""Published binary networks: xncost's `bnn` figures, recomputed from the models, against
closed-form counts of their layers and against reports/literature.md."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from xncost.errors import XncostError
from xncost.models import build_model
from xncost.models.bnn_layers import SignConv2d
from xncost.nn.xnor import XnorConv2d
from xncost.paper import literature as lit
from xncost.paper import literature_report as report_module
from xncost.paper.printed import parse_printed
from xncost.paper.store import BNN_FILE, load_figures, load_published, load_table, reference_dir

REPORT = Path(__file__).resolve().parents[2] / "reports" / "literature.md"


@pytest.fixture(scope="module")
def measured() -> dict[str, lit.NetworkCount]:
    return {name: lit.measure(name) for name in lit.NETWORKS}


def _layer_macs(model: torch.nn.Module, side: int = 224) -> tuple[int, int]:
    """(real-valued, 1-bit) MACs from the conv/linear modules' shapes and output sides,
    found with forward hooks on the meta device (no counting machinery of xncost)."""
    sides: dict[int, int] = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o: sides.__setitem__(id(mod), o.shape[-1]))
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, SignConv2d, XnorConv2d))
    ]
    with torch.device("meta"):
        model(torch.empty(1, 3, side, side, device="meta"))
    for h in hooks:
        h.remove()
    real = one_bit = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            real += m.in_features * m.out_features
        elif isinstance(m, (torch.nn.Conv2d, SignConv2d, XnorConv2d)):
            macs = m.weight[0].numel() * m.weight.shape[0] * sides[id(m)] ** 2
            if isinstance(m, torch.nn.Conv2d):
                real += macs
            else:
                one_bit += macs
    return real, one_bit


@pytest.mark.heavy
@pytest.mark.parametrize("name", lit.NETWORKS)
def test_bnn_figures_match_the_layer_shapes(name: str, measured) -> None:
    with torch.device("meta"):
        model = build_model(name)
    real, one_bit = _layer_macs(model)
    m = measured[name]
    assert (m.bnn.flops, m.bnn.bops) == (real, one_bit)
    assert m.bnn.ops == real + Fraction(one_bit, 64)


@pytest.mark.heavy
def test_bireal18_by_hand(measured) -> None:
    """ResNet-18's 16 3x3 convolutions binary; 7x7 stem, three 1x1 shortcuts and FC real."""
    m = measured["birealnet18"]
    stem = 3 * 64 * 49 * 112 * 112
    shortcuts = 3 * (64 * 128 * 28 * 28)  # 64->128 at 28, 128->256 at 14, 256->512 at 7
    fc = 512 * 1000
    assert m.float_parts == {
        "first convolution": stem,
        "downsampling shortcuts": shortcuts,
        "FC": fc,
        "other": 0,
    }
    stage = [(64, 64, 56)] * 4 + [(64, 128, 28)] + [(128, 128, 28)] * 3
    stage += [(128, 256, 14)] + [(256, 256, 14)] * 3 + [(256, 512, 7)] + [(512, 512, 7)] * 3
    assert m.bnn.bops == sum(ci * co * 9 * s * s for ci, co, s in stage)
    # every conv and FC of ResNet-18, the Bi-Real table's real-valued counterpart
    assert m.float_counterpart_macs == 1_814_073_344
    assert m.params_1bit == sum(ci * co * 9 for ci, co, _ in stage)
    assert m.scales == sum(co for _, co, _ in stage)  # one alpha per binary filter


@pytest.mark.heavy
def test_signconv_is_registered_binary() -> None:
    from xncost.profile.summary import summary

    layer = SignConv2d(8, 4, 3, 1, 1)
    s = summary(torch.nn.Sequential(layer), (1, 8, 5, 5))
    row = s.layers[0]
    assert (row.binary_macs, row.float_macs) == (4 * 8 * 9 * 25, 0)
    assert (row.params_1bit, row.scales) == (4 * 8 * 9, 4)


@pytest.mark.parametrize(
    ("printed", "x", "status", "shown"),
    [
        ("1.63e8", 163_985_408, "differs", "1.64 x 10^8"),
        ("1.68e9", 1_676_279_808, "equal", "1.68 x 10^9"),
        ("0.12e8", 11_862_016, "equal", "0.12 x 10^8"),
        ("1.41e8", 137_793_536, "differs", "1.38 x 10^8"),
        ("33.6", Fraction(33_637_632, 10**6), "equal", "33.6"),
        ("11.14", Fraction(11_1204, 10**4), "differs", "11.12"),
    ],
)
def test_printed_precision(printed: str, x, status: str, shown: str) -> None:
    p = parse_printed(printed)
    figure = lit.Figure("bireal", "birealnet18", "row", "ops", p, Fraction(x), False, False)
    assert figure.status("round") == status
    assert p.format(Fraction(x)) == shown
    lo, hi = _bounds(printed, "round")
    assert p.matches(Fraction(x)) == (lo <= x < hi)
    lo, hi = _bounds(printed, "truncate")
    assert p.matches(Fraction(x), "truncate") == (lo <= x < hi)


def _bounds(text: str, reading: str) -> tuple[Fraction, Fraction]:
    """[lo, hi) of the exact values a printed '1.63e8' reads as, here without xncost."""
    mantissa, _, exp = text.partition("e")
    places = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = Fraction(10) ** (int(exp or 0) - places)
    v = Fraction(mantissa) * Fraction(10) ** int(exp or 0)
    return (v, v + unit) if reading == "truncate" else (v - unit / 2, v + unit / 2)


@pytest.fixture(scope="module")
def report(measured) -> str:
    return report_module.literature_markdown(measured)


@pytest.mark.heavy
def test_one_bit_shortcut_bits_from_the_model(measured, report) -> None:
    """Only the shortcut convolutions' weights can be 1-bit (not their batch norms)."""
    with torch.device("meta"):
        model = build_model("xnor-resnet18")
    convs = [
        m for n, m in model.named_modules()
        if "downsample" in n and isinstance(m, torch.nn.Conv2d)
    ]  # fmt: skip
    weights = sum(c.weight.numel() for c in convs)
    filters = sum(c.out_channels for c in convs)
    everything = sum(p.numel() for n, p in model.named_parameters() if "downsample" in n)
    x = measured["xnor-resnet18"]
    assert (x.shortcut_weights, x.shortcut_filters) == (weights, filters) and everything > weights
    gross, net = lit.one_bit_shortcuts(x)
    assert (gross, net) == (31 * weights, 31 * weights - 32 * filters)
    assert f"1-bit shortcut weights ({weights:,}," in report
    assert f"would take {gross:,} bits off, {net:,} net of one 32-bit alpha" in report
    assert f"{everything:,} parameters" not in report


@pytest.mark.heavy
def test_shortcut_countings_recomputed(measured, report) -> None:
    x = measured["xnor-resnet18"]
    macs = sum(ci * co * s * s for ci, co, s in ((64, 128, 28), (128, 256, 14), (256, 512, 7)))
    bops, flops = x.bnn.bops, x.bnn.flops
    ops_real = flops + Fraction(bops, 64)
    want = {  # counting -> (BOPs, FLOPs before e, OPs before e)
        "real": (bops, flops, ops_real),
        "binary": (bops + macs, flops - macs, flops - macs + Fraction(bops + macs, 64)),
        "mixed": (bops + macs, ops_real - Fraction(bops + macs, 64), ops_real),
    }
    figs = lit.figures(measured, *load_published()[1:])
    readings = {s: v.used for s, v in lit.source_readings(figs).items()}
    assert readings == {"reactnet": "round", "bireal": "round"}  # recomputed below
    fits = lit.shortcut_fits(x, figs, readings)
    b_lo, b_hi = _bounds("1.70e9", "round")
    commons = {}
    for f, (name, (b, fl, op)) in zip(fits, want.items(), strict=True):
        assert (f.counting.bops, f.counting.flops, f.counting.ops) == (b, fl, op), name
        assert f.bops_reads == (b_lo <= b < b_hi)
        lo = max(_bounds("1.41e8", "round")[0] - fl, _bounds("1.67e8", "round")[0] - op)
        hi = min(_bounds("1.41e8", "round")[1] - fl, _bounds("1.67e8", "round")[1] - op)
        commons[name] = (lo, hi) if lo < hi and hi > 0 else None
        assert (f.common is None) == (commons[name] is None)
        if f.common is not None:
            assert (f.common.lo, f.common.hi) == commons[name]
    gaps = {n: abs(Fraction("33.7") - Fraction(f.counting.memory_bits, 10**6))
            for n, f in zip(want, fits, strict=True)}  # fmt: skip
    ok = [n for n, f in zip(want, fits, strict=True) if f.bops_reads and commons[n]]
    best = min(ok, key=gaps.__getitem__)
    chosen = lit.chosen_fit(fits)
    assert chosen.counting.name == fits[list(want).index(best)].counting.name
    assert f"The counting the figures support: **{chosen.counting.name}**" in report


@pytest.mark.heavy
def test_source_readings_recomputed(measured, report) -> None:
    figs = lit.figures(measured, *load_published()[1:])
    verdicts = lit.source_readings(figs)
    for src, v in verdicts.items():
        mine = [f for f in figs if f.source == src]
        counts = {
            r: sum(_bounds(f.printed.text, r)[0] <= f.exact < _bounds(f.printed.text, r)[1]
                   for f in mine)
            for r in ("round", "truncate")
        }  # fmt: skip
        assert {r: v.tests[0].count(r) for r in counts} == counts
        best = max(counts, key=counts.__getitem__)
        assert v.reading == (best if len(set(counts.values())) == 2 else None)
        for f in mine:
            if f.counterpart:
                continue
            lo, hi = _bounds(f.printed.text, v.used)
            row = next(
                line for line in report.splitlines()
                if line.startswith(f"| `{f.model}` ({f.row}) | {lit.QUANTITIES[f.key][0]} |")
            )  # fmt: skip
            assert row.split(" | ")[5] == ("equal" if lo <= f.exact < hi else "differs")
    assert "equal if truncated" not in report


def test_published_data_has_provenance() -> None:
    sources, rows, counterparts = load_published()
    for src in sources.values():
        assert src["cite"] and src["table"] and src["verified"]
    assert {r.model for r in rows} == set(lit.NETWORKS)
    assert all(r.figures for r in rows + counterparts)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["figures"][0].update(bops="1.6x"),
        lambda d: d["figures"][0].update(source="nowhere"),
        lambda d: d.pop("sources"),
    ],
)
def test_malformed_data_file(tmp_path: Path, mutate) -> None:
    data = json.loads((reference_dir() / BNN_FILE).read_text())
    mutate(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(XncostError):
        load_published(bad)


@pytest.mark.heavy
def test_report_is_current(measured) -> None:
    """reports/literature.md is what the models give today (regenerate: see its header)."""
    assert report_module.literature_markdown(measured) == REPORT.read_text(encoding="utf-8")


@pytest.mark.heavy
def test_every_difference_is_explained(measured) -> None:
    text = report_module.literature_markdown(measured)
    for line in text.splitlines():
        if "| differs |" in line:
            assert not line.rstrip().endswith("| differs |  |")


@pytest.mark.heavy
def test_reports_command_writes_it(tmp_path, cli) -> None:
    r = cli(["reports", "--out", tmp_path, "--only", "literature", "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "literature.md").read_bytes() == REPORT.read_bytes()


# ----------------------------------------------------------------------------- attributions

ROOT = Path(__file__).resolve().parents[2]
ATTRIBUTIONS = ROOT / "docs" / "attributions.md"


def _md_tables(text: str) -> list[list[dict[str, str]]]:
    """The markdown tables of a document as lists of {header: cell} ('\\|' is a literal |)."""
    tables, rows = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows.append(cells)
        elif rows:
            header, body = rows[0], rows[2:]
            tables.append([dict(zip(header, r, strict=True)) for r in body])
            rows = []
    return tables


def _prints(entry: str) -> set[str]:
    """What a source is recorded to print: its ';' list, transcriptions expanded."""
    out: set[str] = set()
    for item in (i.strip() for i in entry.split(";")):
        if item.startswith("every paper_text of reference/"):
            out |= {c.printed.text for n in (4, 5, 7, 8, 9) for c in load_table(n)}
        elif item.startswith("every paper_text of reference/figures.csv source "):
            key = item.rsplit(" ", 1)[1]
            out |= {f.printed.text for f in load_figures().values() if f.source == key}
        elif item.startswith("every figure of published_bnn.json source "):
            key = item.rsplit(" ", 1)[1]
            _, rows, counterparts = load_published()
            out |= {
                p.display for r in rows + counterparts if r.source == key
                for p in r.figures.values()
            }  # fmt: skip
        else:
            out.add(item)
    return out


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_attribution_points_to_a_source_that_prints_it() -> None:
    sources, attributions = _md_tables(ATTRIBUTIONS.read_text(encoding="utf-8"))
    prints = {s["id"]: _prints(s["prints or gives"]) for s in sources}
    assert len(prints) == len(sources)  # ids unique
    assert attributions
    for a in attributions:
        assert a["source"] in prints, a
        assert a["figure"] in prints[a["source"]], a
        assert a["figure"] in a["the project's words"], a
        words = a["the project's words"].strip("`")
        assert _flat(words) in _flat((ROOT / a["file"]).read_text(encoding="utf-8")), a
    assert {a["source"] for a in attributions} >= set(prints) - {"code-show"}


def test_the_store_and_the_attributions_agree() -> None:
    """Every source of reference/figures.csv records, in docs/attributions.md, that it prints
    that file's figures of it (so each stored figure is attributed)."""
    sources, _ = _md_tables(ATTRIBUTIONS.read_text(encoding="utf-8"))
    entries = {s["id"]: s["prints or gives"] for s in sources}
    for key in {f.source for f in load_figures().values()}:
        assert f"every paper_text of reference/figures.csv source {key}" in entries[key], key


def test_every_repository_address_is_a_recorded_source() -> None:
    sources, _ = _md_tables(ATTRIBUTIONS.read_text(encoding="utf-8"))
    known = " ".join(s["address"] + " " + s["prints or gives"] for s in sources)
    recorded = set(re.findall(r"github\.com/[\w.-]+/[\w-]+", known))
    files = [ROOT / "README.md", ROOT / "reference" / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "reports").glob("*.md"))
    files += sorted((ROOT / "xncost").rglob("*.py"))
    for f in files:
        for address in re.findall(r"github\.com/[\w.-]+/[\w-]+", f.read_text(encoding="utf-8")):
            assert address in recorded, (f, address)


def test_no_figure_credited_to_a_readme_that_does_not_print_it() -> None:
    """The NIN figures are ptflops' output quoted by onion-rain/MCTS, not XNOR-Net-PyTorch's
    README (which prints none); the recorded sources say so and nothing credits it."""
    sources, attributions = _md_tables(ATTRIBUTIONS.read_text(encoding="utf-8"))
    prints = {s["id"]: _prints(s["prints or gives"]) for s in sources}
    nin = lit_nin_figures()
    credited = {a["source"] for a in attributions if a["figure"] in nin}
    assert credited and all(nin & prints[c] for c in credited)
    assert not nin & prints["xnor-net-pytorch"]
    for f in [ROOT / "README.md", *sorted((ROOT / "reports").glob("summary_*.md"))]:
        assert "XNOR-Net-PyTorch's README" not in f.read_text(encoding="utf-8")


def lit_nin_figures() -> set[str]:
    """The NIN figures xncost's summaries print beside its own (PUBLISHED_FIGURES)."""
    from xncost.paper.comparisons import PUBLISHED_FIGURES
    from xncost.paper.store import figure

    return {figure(key).text for fig in PUBLISHED_FIGURES.values() for key in fig.values()}
