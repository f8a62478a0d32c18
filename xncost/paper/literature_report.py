"""reports/literature.md: the published BNN figures beside xncost's counts of the same networks,
each difference explained (`xncost.paper.literature` computes; this module writes).

    python -m xncost.paper.literature_report [--out reports/literature.md]
"""

from __future__ import annotations

from fractions import Fraction

from xncost.errors import XncostError
from xncost.paper.literature import (
    LITERATURE_WORD,
    NETWORKS,
    QUANTITIES,
    Figure,
    NetworkCount,
    chosen_fit,
    count_text,
    figures,
    measure,
    one_bit_shortcuts,
    sci_text,
    shortcut_countings,
    shortcut_fits,
    source_readings,
    span_text,
)
from xncost.paper.printed import (
    READING_WORDS,
    READINGS,
    Printed,
    Reading,
    ReadingVerdict,
    parse_printed,
)
from xncost.paper.store import load_published
from xncost.report.model import Column, Heading, Paragraph, Report, Row, TableBlock, cells
from xncost.report.to_markdown import to_markdown

SOURCE_TABLES = {
    "reactnet": "ReActNet (Liu et al. 2020), comparison table",
    "bireal": "Bi-Real Net (Liu et al. 2018), memory and FLOPs table",
}


def _table(header: list[str], aligns: str, rows: list[list[str]]) -> TableBlock:
    """A plain table; `aligns` one letter per column after the first: l (markdown's default)
    or r (right)."""
    columns = tuple(
        Column(h, "right" if a == "r" else "") for h, a in zip(header[1:], aligns, strict=True)
    )
    return TableBlock(columns, tuple(Row(r[0], cells(*r[1:])) for r in rows), label_head=header[0])


def _bireal18_ops(
    b18: NetworkCount, by: dict, printed_macs: Printed, readings: dict[str, Reading]
) -> str:
    """Why Bi-Real Net-18's printed OPs differ: what xncost's OPs read as, and the OPs the
    Bi-Real table's own speed-up and real-valued MACs allow."""
    speedup = by[("birealnet18", "bireal", "speedup")]
    allowed = speedup.printed.interval_for(readings["bireal"])
    ops_lo, ops_hi = (
        b18.float_counterpart_macs / allowed.hi,
        b18.float_counterpart_macs / allowed.lo,
    )
    ops_fig = by[("birealnet18", "bireal", "ops")]
    at = {r: {ops_fig.printed.format(v, r) for v in (ops_lo, ops_hi)} for r in READINGS}
    word = READING_WORDS[readings["bireal"]]
    allowed_text = (
        f"all of which read as {next(iter(at[readings['bireal']]))} under {word}"
        if len(at[readings["bireal"]]) == 1
        else f"which read as {' or '.join(sorted(at[readings['bireal']]))} under {word}"
    )
    return (
        f"xncost's OPs are {count_text(b18.bnn.ops)} = {sci_text(b18.bnn.ops, 8)}: "
        f"{ops_fig.printed.format(b18.bnn.ops, readings['bireal'])} under {word}, which the "
        f"Bi-Real table follows (see 'How each table reads its figures'), "
        f"{ops_fig.printed.format(b18.bnn.ops, 'truncate')} truncated. The table's own speed-up "
        f"{speedup.printed.display} with its {b18.float_counterpart_macs:,} real-valued MACs "
        f"(printed {printed_macs.display}) puts the OPs in "
        f"({ops_lo.numerator // ops_lo.denominator:,}, "
        f"{ops_hi.numerator // ops_hi.denominator:,}], {allowed_text}"
        + (
            f": the printed {ops_fig.printed.display} is this one figure truncated, not the "
            "table's rounding"
            if ops_fig.printed.matches(b18.bnn.ops, "truncate")
            and Fraction(ops_fig.printed.digits)
            not in {ops_fig.printed.shown(v, readings["bireal"]) for v in (ops_lo, ops_hi)}
            else ""
        )
    )


def explanations(
    m: dict[str, NetworkCount], figs: tuple[Figure, ...], readings: dict[str, Reading]
) -> dict[tuple[str, str, str], str]:
    """Why xncost's figure and a printed one differ, keyed (model, source, quantity)."""
    b18, x18, b34 = m["birealnet18"], m["xnor-resnet18"], m["birealnet34"]
    real, binary, _ = shortcut_countings(x18)
    fits = {f.counting.name: f for f in shortcut_fits(x18, figs, readings)}
    chosen = chosen_fit(tuple(fits.values()))
    by = {(f.model, f.source, f.key): f for f in figs if not f.counterpart}
    counterpart = {(f.model, f.key): f.printed for f in figs if f.counterpart}
    down = x18.float_parts["downsampling shortcuts"]
    ops18 = _bireal18_ops(b18, by, counterpart[("birealnet18", "flops")], readings)
    gross, net = one_bit_shortcuts(x18)
    see = "see 'XNOR-Net ResNet-18: the shortcuts'"
    e_text = (
        f"e in {span_text(chosen.common)} real-valued operations that are not MACs of a "
        "convolution or FC, which neither paper itemizes"
        if chosen
        else "no single unitemized amount e"
    )
    ops_bireal = fits[real.name].needs["bireal ops"]
    no_alpha = b34.memory_bits - 32 * b34.scales
    rb = {k: by[("birealnet18", "reactnet", k)].printed for k in ("bops", "flops", "ops")}
    x_ops = by[("xnor-resnet18", "bireal", "ops")].printed
    x_speedup = by[("xnor-resnet18", "bireal", "speedup")].printed
    b18_memory = by[("birealnet18", "bireal", "memory_mbit")].printed
    b18_saving = by[("birealnet18", "bireal", "memory_saving")].printed
    fp_memory = counterpart[("birealnet18", "memory_mbit")]
    saving_memory = fp_memory.value / b18_saving.value
    memory_range = b18_memory.interval_for(readings["bireal"])
    finer = parse_printed(f"{b18_memory.digits}0")  # one decimal more than printed
    return {
        ("birealnet18", "reactnet", "flops"): (
            f"xncost: first convolution {b18.float_parts['first convolution']:,}, the three "
            f"downsampling 1x1 convolutions {b18.float_parts['downsampling shortcuts']:,}, FC "
            f"{b18.float_parts['FC']:,} real-valued MACs. The printed row does not add up: "
            f"{rb['bops'].display}/{LITERATURE_WORD} + {rb['flops'].display} = "
            f"{rb['ops'].format(rb['bops'].value / LITERATURE_WORD + rb['flops'].value)}, not its "
            f"printed OPs {rb['ops'].display}; xncost's FLOPs and OPs satisfy the formula exactly"
        ),
        ("birealnet18", "reactnet", "ops"): f"the Bi-Real table's figure (below): {ops18}",
        ("birealnet18", "bireal", "ops"): ops18,
        ("xnor-resnet18", "reactnet", "bops"): (
            f"only binary downsampling shortcuts give it: {real.bops:,} + their {down:,} MACs "
            f"= {binary.bops:,} ({sci_text(binary.bops, 9, 2)}); xncost's model keeps them "
            f"real-valued, as the Bi-Real table's memory does ({see})"
        ),
        ("xnor-resnet18", "reactnet", "flops"): (
            f"real-valued shortcuts give {count_text(real.flops)}, binary ones "
            f"{count_text(binary.flops)}: neither alone. With binary shortcuts in the BOPs and "
            "the OPs below, OPs - BOPs/64 = "
            f"{count_text(chosen.counting.flops) if chosen else '-'} + e: "
            f"{e_text} ({see})"
        ),
        ("xnor-resnet18", "reactnet", "ops"): (
            f"the Bi-Real table's figure (the same {x_ops.display}): real-valued shortcuts, "
            f"{count_text(real.ops)}, plus {e_text} ({see})"
        ),
        ("xnor-resnet18", "bireal", "ops"): (
            "real-valued shortcuts, as the memory below shows, give "
            f"{count_text(real.ops)}; the printed figure holds e in {span_text(ops_bireal)} more "
            "real-valued operations that are not MACs of a convolution or FC, which the paper "
            f"does not itemize ({see})"
        ),
        ("xnor-resnet18", "bireal", "speedup"): (
            f"xncost: {x18.float_counterpart_macs:,} / OPs; the printed {x_speedup.display} is "
            f"the same ratio with the printed OPs {x_ops.display} "
            f"({sci_text(x18.float_counterpart_macs, 9, 3)} / {x_ops.display} = "
            f"{x_speedup.format(x18.float_counterpart_macs / x_ops.value)})"
        ),
        ("xnor-resnet18", "bireal", "memory_mbit"): (
            f"xncost stores {x18.params_1bit:,} 1-bit weights, {x18.scales:,} 32-bit alphas "
            f"and every other parameter, the shortcuts' included, at 32 bits: "
            f"{sci_text(real.memory_bits, 6, 2)} bits. 1-bit shortcut weights "
            f"({x18.shortcut_weights:,}, "
            f"the convolutions only: their batch norms stay real-valued) would take "
            f"{gross:,} bits off, {net:,} net of one 32-bit alpha for each of their "
            f"{x18.shortcut_filters:,} filters, leaving {sci_text(binary.memory_bits, 6, 2)}: the "
            f"printed figure fits real-valued shortcuts; its "
            f"{float(fits[real.name].memory_gap):.2f} Mbit more (some "
            f"{round(fits[real.name].memory_gap * 10**6 / 32):,} 32-bit values) the paper does "
            "not itemize"
        ),
        ("birealnet18", "bireal", "memory_saving"): (
            f"the printed {b18_memory.display} Mbit stands for {finer.format(memory_range.lo)} to "
            f"{finer.format(memory_range.hi)} Mbit; the printed saving puts it at "
            f"{fp_memory.display} / {b18_saving.display} = {float(saving_memory):.2f} Mbit, about "
            f"{float(Fraction(b18.memory_bits, 10**6) - saving_memory):.2f} Mbit below xncost's "
            "figure, a difference the paper does not itemize"
        ),
        ("xnor-resnet18", "bireal", "memory_saving"): "follows from the memory above",
        ("birealnet34", "bireal", "memory_mbit"): (
            f"not explained: the rule that gives Bi-Real Net-18's printed {b18_memory.display} "
            "Mbit (1-bit "
            "weights, one 32-bit alpha per binary filter, every real-valued parameter at 32 "
            f"bits) gives {sci_text(b34.memory_bits, 6, 2)} bits here; without the alphas (batch "
            f"norm absorbs them after its retraining) {sci_text(no_alpha, 6, 2)} bits"
        ),
        ("birealnet34", "bireal", "memory_saving"): "follows from the memory above",
    }


def _printed_rows(
    figs: tuple[Figure, ...], readings: dict[str, Reading], notes: dict, used: set
) -> TableBlock:
    rows = []
    for f in figs:
        reading = readings[f.source]
        status = f.status(reading)
        note = notes.get((f.model, f.source, f.key), "")
        if note:
            used.add((f.model, f.source, f.key))
        elif status == "differs":
            raise XncostError(f"no explanation for {f.model} {f.source} {f.key}")
        mark = "" if f.checked else " *"
        rows.append(
            [f"`{f.model}` ({f.row})", QUANTITIES[f.key][0], f.printed.display + mark,
             count_text(f.exact), f.printed.format(f.exact, reading), status, note]
        )  # fmt: skip
    header = ["network (printed row)", "quantity", "printed", "xncost (exact)",
              "xncost at the printed precision", "status", "why they differ"]  # fmt: skip
    return _table(header, "lrrrll", rows)


def _reading_section(verdicts: dict[str, ReadingVerdict]) -> list:
    rows = []
    for src, v in verdicts.items():
        t = v.tests[0]
        rows.append(
            [SOURCE_TABLES[src], str(len(t.items)), str(t.count("round")),
             str(t.count("truncate")), *("; ".join(t.only(r)) or "-" for r in READINGS),
             READING_WORDS[v.reading] if v.reading else "undecided: rounding"]
        )  # fmt: skip
    header = ["table", "figures", "rounded", "truncated", "only rounding gives",
              "only truncation gives", "reading"]  # fmt: skip
    return [
        Heading("How each table reads its figures"),
        Paragraph(
            "Each printed figure read both ways, rounded half up and truncated to its printed "
            "decimals; a table follows the reading under which more of its figures are "
            "xncost's exact values (`xncost.paper.printed.ReadingVerdict`), and its statuses "
            "use that reading."
        ),
        _table(header, "rrrlll", rows),
    ]


def _shortcut_section(
    x: NetworkCount, figs: tuple[Figure, ...], readings: dict[str, Reading]
) -> list:
    fits = shortcut_fits(x, figs, readings)
    chosen = chosen_fit(fits)
    by = {(f.source, f.key): f for f in figs if f.model == "xnor-resnet18" and not f.counterpart}
    bops, memory = by[("reactnet", "bops")], by[("bireal", "memory_mbit")]
    keys = list(fits[0].needs)
    gives_bops = [f.counting.name for f in fits if f.bops_reads] or ["no counting"]
    nearest = min(fits, key=lambda f: f.memory_gap).counting.name
    rows = []
    for f in fits:
        c = f.counting
        rows.append(
            [
                c.name,
                f"{c.bops:,} ({bops.printed.format(Fraction(c.bops))}"
                f"{'' if f.bops_reads else ', differs'})",
                count_text(c.flops),
                count_text(c.ops),
                f"{float(Fraction(c.memory_bits, 10**6)):.2f} ({float(f.memory_gap):.2f} from "
                f"{memory.printed.display})",
                *(span_text(iv) if iv.hi > 0 else "none" for iv in f.needs.values()),
                span_text(f.common) if f.common else "none",
            ]
        )
    header = ["counting", "BOPs", "FLOPs before e", "OPs before e", "memory (Mbit)",
              *(f"e for {k}" for k in keys), "one e for all"]  # fmt: skip
    if chosen is None:
        conclusion = (
            "No counting gives the printed BOPs and, with one e, every printed FLOPs and OPs "
            "figure: the row stays unexplained."
        )
    else:
        others = [f for f in fits if f is not chosen and f.bops_reads and f.common is not None]
        conclusion = (
            f"The counting the figures support: **{chosen.counting.name}**. Its BOPs read as "
            f"printed and one e in {span_text(chosen.common)} gives every printed FLOPs and OPs "
            "figure of both tables"
            + "".join(
                f"; {o.counting.name} does too, with e in {span_text(o.common)}, but its memory is "
                f"{float(o.memory_gap):.2f} Mbit from the printed {memory.printed.display} "
                f"against {float(chosen.memory_gap):.2f}"
                for o in others
            )
            + ". So the ReActNet row counts the shortcuts binary in its BOPs and takes its OPs "
            "from the Bi-Real table (real-valued shortcuts), its FLOPs being OPs - BOPs/64. "
            f"Unexplained: e, {span_text(chosen.common)} real-valued operations neither paper "
            f"itemizes, and the memory's {float(chosen.memory_gap):.2f} Mbit."
        )
    return [
        Heading("XNOR-Net ResNet-18: the shortcuts"),
        Paragraph(
            f"The ReActNet row's BOPs ({bops.printed.display}) read as printed with: "
            f"{'; '.join(gives_bops)}. The Bi-Real table's memory ({memory.printed.display} "
            f"Mbit) is nearest {nearest}. Each counting below predicts BOPs, FLOPs, OPs and "
            "memory together; e is the real-valued work that is not a MAC of a convolution or "
            "FC (which the `bnn` convention leaves out) that a printed FLOPs or OPs figure would "
            "need on top of the counting, under its table's reading (integers, both ends "
            "included)."
        ),
        _table(header, "rrrr" + "r" * len(keys) + "r", rows),
        Paragraph(conclusion),
    ]


INTRO = (
    "The BNN literature's convention (`bnn`): FLOPs = multiply-accumulates of the real-valued "
    "convolutions and FC layers; BOPs = 1-bit multiply-accumulates of the binary convolutions; "
    f"OPs = FLOPs + BOPs/{LITERATURE_WORD}. Batch norm, activations, pooling, the shortcuts' "
    "additions, signs and scaling factors are not counted. xncost reads FLOPs and BOPs from "
    "`xncost summary MODEL --convention bnn` (`xncost.paper.literature.bnn_figures`), counted "
    "on one forward pass of the networks in `xncost.models` at 3x224x224 with 1000 classes. "
    "Memory: 1 bit per binary weight, 32 bits per other parameter and per scale (one alpha per "
    "binary filter); memory saving = 32 bits x parameters / memory; speed-up = MACs of the "
    "same network with every convolution real-valued / OPs (the Bi-Real table's definition)."
)
STATUS = (
    "Status: `equal` when xncost's exact figure reads as the printed one under the reading its "
    "table follows (rounding half up or truncation, decided from the table's own figures "
    "below), else `differs` (explained in the last column). A printed figure marked * was "
    "transcribed from the paper and not compared with a second copy; see Sources (and "
    "docs/attributions.md)."
)
NETWORK_NOTES = (
    "- `birealnet18`, `birealnet34` (`xncost.models.bireal`): the authors' PyTorch code; "
    "real-valued first convolution, downsampling shortcuts (2x2 average pool, 1x1 convolution, "
    "BN) and FC; every 3x3 convolution binary (`SignConv2d`).",
    "- `xnor-resnet18` (`xncost.models.xnor_resnet`): ResNet-18 basic blocks with BN -> "
    "`XnorConv2d` (binary input and weights, scales K and alpha); real-valued first "
    "convolution, downsampling shortcuts and FC.",
    "- `reactnet-a` (`xncost.models.reactnet`): the authors' code; real-valued first "
    "convolution and FC, every other convolution binary, RSign and RPReLU as learnable shifts "
    "around sign and PReLU.",
)


def literature_report(measured: dict[str, NetworkCount] | None = None) -> Report:
    """The report (byte-identical across runs: no dates, no timings)."""
    m = measured or {name: measure(name) for name in NETWORKS}
    sources, rows, counterparts = load_published()
    figs = figures(m, rows, counterparts)
    verdicts = source_readings(figs)
    readings = {src: v.used for src, v in verdicts.items()}
    notes = explanations(m, figs, readings)
    used: set = set()
    ours = [
        [f"`{name}`", f"{x.bnn.flops:,}", f"{x.bnn.bops:,}", count_text(x.bnn.ops),
         f"{x.float_counterpart_macs:,}", f"{float(x.value('speedup')):.2f}",
         f"{x.params:,} ({x.params_1bit:,})", f"{x.memory_bits:,}",
         f"{float(x.value('memory_saving')):.2f}"]
        for name, x in ((n, m[n]) for n in NETWORKS)
    ]  # fmt: skip
    parts = list(m[NETWORKS[0]].float_parts)
    where = [[f"`{n}`", *(f"{v:,}" for v in m[n].float_parts.values())] for n in NETWORKS]
    blocks: list = [
        Paragraph(
            "Generated by `xncost reports --out reports --only literature`."
        ),
        Paragraph(INTRO),
        Paragraph(STATUS),
        Heading("xncost's figures"),
        _table(
            [
                "network",
                "FLOPs",
                "BOPs",
                "OPs",
                "float counterpart MACs",
                "speed-up",
                "params (1-bit)",
                "memory (bits)",
                "saving",
            ],
            "r" * 8,
            ours,
        ),  # fmt: skip
        Paragraph("Where the FLOPs run (real-valued MACs):"),
        _table(["network", *parts], "r" * len(parts), where),
        *_reading_section(verdicts),
    ]
    for key, title in SOURCE_TABLES.items():
        chosen = tuple(f for f in figs if f.source == key and not f.counterpart)
        blocks += [Heading(title), _printed_rows(chosen, readings, notes, used)]
    counter_rows = [
        [f"{f.row} (`{f.model}` with real-valued convolutions)", QUANTITIES[f.key][0],
         f"{f.printed.display} *", count_text(f.exact), f.status(readings[f.source])]
        for f in figs
        if f.counterpart
    ]  # fmt: skip
    blocks += [
        Heading("Real-valued counterparts (Bi-Real table)"),
        _table(["printed row", "quantity", "printed", "xncost", "status"], "lrrl", counter_rows),
    ]
    unused = set(notes) - used
    if unused:
        raise XncostError(f"explanations without a printed figure: {sorted(unused)}")
    blocks += _shortcut_section(m["xnor-resnet18"], figs, readings)
    blocks += [
        Heading("The networks"),
        Paragraph("\n".join(NETWORK_NOTES)),
        Heading("Sources"),
        Paragraph(
            "\n".join(
                f"- **{key}**: {src['cite']}; {src['table']}. Checked: {src['verified']}."
                for key, src in sources.items()
            )
        ),
    ]
    return Report("Published binary networks: printed figures beside xncost's", tuple(blocks))


def literature_markdown(measured: dict[str, NetworkCount] | None = None) -> str:
    """reports/literature.md."""
    return to_markdown(literature_report(measured))
