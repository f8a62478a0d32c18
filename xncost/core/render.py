"""The per-step cost of one layer (`xncost cost`) as a report: markdown, CSV, exact JSON and a
rich table, written by the report writers (`xncost.report`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from xncost.core.accounting import Breakdown
from xncost.exact import all_digits_in, exact_str
from xncost.report.fit import fit_widths
from xncost.report.model import Column, Paragraph, Report, Row, TableBlock, cells
from xncost.report.to_csv import to_csv
from xncost.report.to_json import dumps
from xncost.report.to_markdown import to_markdown

# ----------------------------------------------------------------------------- breakdowns

READABLE_COLUMN = 14  # a column narrowed no further while others can give, then
TIGHT_COLUMN = 4  # the narrowest a folding column gets before the table becomes a listing

STEP_COLUMNS = (
    "layer",
    "step",
    "ref",
    "kind",
    "repeats",
    "flops",
    "bops",
    "xnor_flops",
    "params",
    "params_1bit",
    "params_32bit",
    "memory_bits",
)


def measured_differences(b: Breakdown, measured: dict[str, Any]) -> list[str]:
    """The totals whose measured value differs from the formula's."""
    t = b.totals
    return [k for k, v in measured.items() if Fraction(v) != Fraction(t[k])]


def _measured_verdict(b: Breakdown, measured: dict[str, Any]) -> str:
    diffs = measured_differences(b, measured)
    if not diffs:
        return "equal to the formula"
    return "DIFFERS from the formula: " + ", ".join(
        f"{k} (formula {exact_str(b.totals[k])}, measured {exact_str(measured[k])})" for k in diffs
    )


def breakdown_json(b: Breakdown, measured: dict[str, Any] | None = None) -> str:
    d = b.to_dict()
    d["measured"] = measured
    d["measured_differs"] = None if measured is None else measured_differences(b, measured)
    return dumps(d)


@all_digits_in
def breakdown_csv(b: Breakdown, measured: dict[str, Any] | None = None) -> str:
    """One row per step, a `total` row and, when measured, a `measured` row whose `kind`
    says whether it equals the formula."""
    counts = ("flops", "bops", "xnor_flops", "params", "params_1bit", "params_32bit",
              "memory_bits")  # fmt: skip
    rows = [
        [s.name, s.ref, s.kind, str(s.repeats), *(exact_str(getattr(s, k)) for k in counts)]
        for s in b.steps
    ]
    t, m = b.totals, b.memory
    rows.append(
        ["total", "", "", ""]
        + [exact_str(t[k]) for k in ("flops", "xnor_bops", "xnor_flops", "params")]
        + [exact_str(m[k]) for k in ("params_1bit", "params_32bit", "memory_bits")]
    )
    if measured is not None:
        diffs = measured_differences(b, measured)
        rows.append(
            ["measured", "", "differs: " + " ".join(diffs) if diffs else "equal", ""]
            + [exact_str(measured[k]) for k in ("flops", "xnor_bops", "xnor_flops", "params")]
            + ["", "", ""]
        )
    block = TableBlock(
        tuple(Column(h) for h in STEP_COLUMNS[1:]),
        tuple(Row(b.layer, cells(*r)) for r in rows),
        label_head=STEP_COLUMNS[0],
    )
    return to_csv(block)


def _shape_text(b: Breakdown) -> str:
    return ", ".join(f"{k}={v}" for k, v in b.shape.as_dict().items())


def _speedup_lines(b: Breakdown) -> list[str]:
    if b.speedup is None:
        return []
    s = b.speedup.as_dict()
    eq = s.pop("equation")
    labels = {
        "printed": f"{eq} as printed",
        "eq9": "Eq. 9 applied to the dot products",
        "word_bound": "64-bit word utilisation bound",
        "from_steps": "float step / xnorized step (this convention)",
        "from_steps_with_binarization": "... including binarization",
    }
    return [f"{labels[k]}: {'n/a' if v is None else f'{float(v):.4f}'}" for k, v in s.items()]


@all_digits_in
def breakdown_markdown(b: Breakdown, measured: dict[str, Any] | None = None) -> str:
    steps = TableBlock(
        (Column("ref"), Column("kind"), Column("repeats"))
        + tuple(Column(h, "right") for h in ("FLOPs", "BOPs", "XNOR FLOPs", "params")),
        tuple(
            Row(
                s.name,
                cells(
                    s.ref,
                    s.kind,
                    str(s.repeats),
                    *map(exact_str, (s.flops, s.bops, s.xnor_flops, s.params)),
                ),
            )
            for s in b.steps
        ),  # fmt: skip
        label_head="step",
    )
    t, m = b.totals, b.memory
    lines = [
        "Totals: " + ", ".join(f"{k} = {exact_str(v)}" for k, v in t.items()),
        *(line[0].upper() + line[1:] for line in _flops_lines(b)),
        f"Inference storage: {exact_str(m['params_32bit'])} 32-bit + "
        f"{exact_str(m['params_1bit'])} 1-bit parameters = {exact_str(m['memory_bits'])} "
        f"bits (float: {exact_str(m['float_memory_bits'])} bits)",
        *(f"Speed-up, {line}" for line in _speedup_lines(b)),
    ]
    if measured is not None:
        lines.append(
            "Measured: "
            + ", ".join(f"{k} = {exact_str(v)}" for k, v in measured.items())
            + f" ({_measured_verdict(b, measured)})"
        )
    return to_markdown(
        Report(
            f"{b.layer}: {_shape_text(b)}",
            (
                Paragraph(f"Convention `{b.convention.name}`: {b.convention.description}."),
                steps,
                Paragraph("\n".join(lines)),
            ),
        )
    )


@all_digits_in
def breakdown_rich(
    b: Breakdown, measured: dict[str, Any] | None = None, width: int | None = None
) -> Any:
    """The steps as a rich table; below 110 columns each step's reference goes under its
    name instead of in a column of its own."""
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text

    narrow = width is not None and width < 110
    rt = RichTable(title=f"{b.layer}: {_shape_text(b)} (convention {b.convention.name})")
    t = b.totals
    rows: list[list[Any]] = []
    for s in [*b.steps, None]:
        v = (
            (t["flops"], t["xnor_bops"], t["xnor_flops"], t["params"])
            if s is None
            else (s.flops, s.bops, s.xnor_flops, s.params)
        )
        counts = [_count_text(x) for x in v]
        if s is None:
            rows.append(["total", *([] if narrow else [""]), "", "", *counts])
            continue
        name: Any = s.name
        if narrow:
            name = Text(s.name)
            name.append(f"\n{s.ref}", style="dim")
        rows.append([name, *([] if narrow else [s.ref]), s.kind, str(s.repeats), *counts])
    heads = [
        ("step", "left"),
        ("ref", "left"),
        ("kind", "left"),
        ("x", "right"),
        ("FLOPs", "right"),
        ("BOPs", "right"),
        ("XNOR FLOPs", "right"),
        ("params", "right"),
    ]
    heads = [h for h in heads if not (narrow and h[0] == "ref")]
    cols = [[h, *(str(r[j]) for r in rows)] for j, (h, _) in enumerate(heads)]
    words = [max(len(w) for c in col for w in c.split()) for col in cols]
    budget = (width or 10_000) - 3 * len(heads) - 1
    widths = fit_widths(
        [max(len(x) for c in col for x in c.splitlines()) for col in cols],
        [min(w, TIGHT_COLUMN) for w in words],
        budget,
        [min(w, READABLE_COLUMN) for w in words],
    )
    if sum(widths) > budget:  # no table fits: a listing, which folds but never cuts
        return Group(*_breakdown_listing(rt.title, heads, rows), *_breakdown_lines(b, measured))
    for (name, just), w in zip(heads, widths, strict=True):
        rt.add_column(name, justify=just, width=w, overflow="fold")
    for r in rows[:-1]:
        rt.add_row(*r)
    rt.add_section()
    rt.add_row(*rows[-1], style="bold")
    return Group(rt, *_breakdown_lines(b, measured))


def _breakdown_listing(
    title: Any, heads: list[tuple[str, str]], rows: list[list[Any]]
) -> list[Any]:
    """The rows of `breakdown_rich` as lines: each step's name, then one count a line."""
    from rich.text import Text

    out = [Text(str(title), style="italic")]
    for r in rows:
        named = [(h, str(v)) for (h, _), v in zip(heads, r, strict=True) if str(v)]
        out.append(Text(" ".join(v for _, v in named[:1]), style="bold"))
        out += [Text(f"  {'repeats' if h == 'x' else h}: {v}") for h, v in named[1:]]
    return out


def _count_text(x: Any) -> str:
    """A count as the tables print it: ints with thousands separators, fractions exact."""
    return f"{x:,}" if isinstance(x, int) else exact_str(x)


def _flops_lines(b: Breakdown) -> list[str]:
    """Where the FLOPs total comes from, when it holds XNOR FLOPs (Table 5's total FLOPs =
    float FLOPs + BOPs / word): the column of step FLOPs sums to the float part."""
    t = b.totals
    if not t["xnor_flops"]:
        return []
    float_flops = t["flops"] - t["xnor_flops"]
    return [
        f"total FLOPs {_count_text(t['flops'])} = float FLOPs {_count_text(float_flops)} "
        f"(the steps' FLOPs) + XNOR FLOPs {_count_text(t['xnor_flops'])} (BOPs / "
        f"{b.convention.word_bits}), as Table 5 counts"
    ]


def _breakdown_lines(b: Breakdown, measured: dict[str, Any] | None) -> list[Any]:
    """The lines under the breakdown table: binarization, speed-ups, measured totals."""
    from rich.text import Text

    t = b.totals
    lines = [Text(line) for line in _flops_lines(b)]
    lines.append(Text(f"binarization FLOPs: {_count_text(t['binarization_flops'])}"))
    lines += [Text(f"speed-up, {line}") for line in _speedup_lines(b)]
    if measured is not None:
        same = not measured_differences(b, measured)
        lines.append(
            Text(
                "measured: "
                + ", ".join(f"{k}={_count_text(v)}" for k, v in measured.items())
                + f" ({_measured_verdict(b, measured)})",
                style="green" if same else "bold red",
            )
        )
    return lines
