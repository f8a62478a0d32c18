"""The audit's sections on Tables 5, 7 and 9, rendered from the data of `fchead`,
`residual`, `ratios` and `speedups`."""

from __future__ import annotations

from xncost.core.accounting import breakdown
from xncost.core.shapes import CAPS_PRESETS, resnet_fc_dims
from xncost.paper.audit import fchead, ratios, residual, speedups
from xncost.paper.audit.inverse import printed_interval, total_inverses
from xncost.paper.audit.numbers import dec, exact_text, int_range, interval_text
from xncost.paper.audit.sections import (
    CELL_HEADER,
    INVERSE_HEADER,
    Section,
    all_match_sentence,
    cell_rows,
    counts,
    inverse_rows,
    join,
    label,
)
from xncost.paper.cells import Table
from xncost.paper.printed import READING_WORDS, READINGS
from xncost.paper.speedup_readings import (
    SOURCED_CAPS_IN,
    SpeedupReading,
    range_text,
    speedup_at,
    speedup_readings,
)
from xncost.paper.store import load_table, printed_lookup
from xncost.paper.tables import build_table, fc_flops, reading_verdict
from xncost.report.to_markdown import pipe_table

# ----------------------------------------------------------------------------- Table 5


def _map_side(sec: Section) -> None:
    sides = fchead.map_sides(5)
    pooled = fchead.pooled_head_flops()
    sec.add(
        "### ResNet-50 FC head: the feature-map side the printed FLOPs imply",
        "",
        "The ResNet-50 FC head (Table 10) is 1024-512-10 on a flattened s x s x 2048 map, "
        f"`paper` convention: FLOPs(s) = {fchead.fc_flops_expr()}. Solving FLOPs(s) = printed "
        "value for s with sympy. Which side ResNet-50 really produces depends on an assumption "
        "the paper leaves open for the modified stem without upsampling (Section 4.3.2): a "
        "size-keeping padding (`xncost.core.shapes.resnet50_map_side`) or Keras' ResNet50 "
        "ZeroPadding2D(3) and (1) layers kept around the new 3x3/1 stem and 1x1/1 pool "
        "(`xncost.paper.tables.keras_resnet50_map_side`). Both are shown:",
        "",
    )
    rows = [
        [
            m.label,
            m.printed.text,
            exact_text(m.root) if m.root is not None else "-",
            int_range(m.lo, m.hi),
            str(m.input_side),
            str(m.real),
            f"{fc_flops(resnet_fc_dims(m.real)):,}",
            str(m.keras),
            f"{fc_flops(resnet_fc_dims(m.keras)):,}",
        ]  # fmt: skip
        for m in sides
    ]
    sec.add(
        *pipe_table(
            [
                "setting",
                "printed",
                "exact s",
                "integer s",
                "input side",
                "side (size-keeping stem)",
                "FLOPs there",
                "side (Keras paddings)",
                "FLOPs there",
            ],
            rows,
        ),  # fmt: skip
        "",
    )
    implied = ", ".join(str(m.lo) for m in sides)
    real = ", ".join(str(m.real) for m in sides)
    keras = ", ".join(str(m.keras) for m in sides)
    halves = all(m.halves for m in sides)
    sec.add(
        f"The printed figures need sides {implied}; ResNet-50 gives {real} with a size-keeping "
        f"stem, {keras} with Keras' paddings"
        + (
            "; with the size-keeping stem each implied side is ceil(real / 2), what one more "
            "stride-2 stage would give"
            if halves
            else ""
        )  # fmt: skip
        + f". The authors' code pools globally before the FC layers: 2048-1024-512-10 costs "
        f"{pooled:,} FLOPs whatever the input size (docs/paper.md).",
        "",
    )
    sec.findings.append(
        f"Table 5/9 ResNet-50 FC FLOPs ({', '.join(m.printed.text for m in sides)}) are those of "
        f"a flattened s x s x 2048 map with s = {implied}; ResNet-50 at the stated inputs gives "
        f"s = {real} (size-keeping stem) or {keras} (Keras' paddings kept, an assumption)"
        + ("; each implied s is ceil(real s / 2) of the first" if halves else "")
        + f"; the authors' code pools first ({pooled:,} FLOPs)."
    )


def _residual(sec: Section) -> None:
    res = residual.residuals()
    sec.add(
        "### XnIDR totals: the residual",
        "",
        "xncost's XnIDR total is LP_out + routing + binarization + XNOR FLOPs (Table 3). A "
        "printed value p with k decimals at unit u stands for [p - u/2·10^-k, p + u/2·10^-k); "
        "the residual interval divided by the capsule pairs N·M is the extra cost per pair "
        "that would explain each printed total:",
        "",
        *pipe_table(
            [
                "model",
                "shape",
                "printed",
                "xncost",
                "residual",
                "pairs N·M",
                "extra FLOPs per pair",
            ],
            [
                [
                    label(r.model),
                    f"N={r.shape.N}",
                    r.printed.printed.text,
                    exact_text(r.xncost),
                    interval_text(r.printed.printed.interval - r.xncost),
                    f"{r.pairs:,}",
                    interval_text(r.per_pair),
                ]
                for r in res
            ],  # fmt: skip
        ),
        "",
    )
    common, ints = residual.common_per_pair(res)
    if common is not None:
        sec.add(
            f"The intervals overlap in {interval_text(common)}: one extra cost per capsule pair "
            f"could explain every printed total (integers: {join([str(k) for k in ints])}).",
            "",
        )
    else:
        sec.add("The intervals do not overlap: no single extra cost per pair explains both.", "")
    _terms(sec, res)
    _search(sec, res)


def _terms(sec: Section, res: list[residual.Residual]) -> None:
    """Single convention terms solved for both printed totals."""
    fits = residual.term_fits(res)
    labels = [f"t for {r.printed.printed.text} (N={r.shape.N})" for r in res]
    sec.add(
        "Single convention terms (`xncost.conventions`, everything else as in `paper`): "
        "total(t) = the printed bounds, solved for t:",
        "",
        *pipe_table(
            ["term", "paper", *labels, "integer t for both"],
            [
                [
                    f.term,
                    str(f.paper),
                    *(interval_text(iv, 3) for iv in f.per_total),
                    (", ".join(map(str, f.integers)) + (" ..." if f.more else "")) or "none",
                ]
                for f in fits
            ],  # fmt: skip
        ),
        "",
    )
    hits = [f for f in fits if f.integers]
    misses = [f.term for f in fits if not f.integers]
    sec.add(
        "Integer values giving both totals: "
        + join(
            [f"{f.term} = {', '.join(map(str, f.integers[:3]))} (paper {f.paper})" for f in hits]
        )
        + "; no integer value: "
        + join(misses)
        + ".",
        "",
    )


def _search(sec: Section, res: list[residual.Residual]) -> None:
    s = residual.residual_search()
    sec.add(
        "### XnIDR totals: structured search over Table 3's step multiplicities",
        "",
        "Every combination of the choices below is counted with xncost's per-iteration step "
        "costs (`paper` prices unless the choice is a price); choices marked *shared* are "
        "steps DR has too, and must keep Table 9 (DR's own float agreement may run r-1 or r "
        f"times). r = {res[0].shape.r}. The first option is xncost's reading.",
        "",
        *pipe_table(
            ["choice", "options", "shared with DR"],
            [
                [d.what, ", ".join(d.options), "yes" if d.shared else "no"]
                for d in residual.DIMENSIONS
            ],
        ),
        "",
    )
    fit_bin, fit_bop, fit_t9 = (s.count(a) for a in ("binarization_rows", "bop_rows", "table9"))
    all_ok = s.count("keeps_all")
    shared = s.shared_options()
    fixed = [
        f"{d.what} {shared[d.name][0]}" for d in residual.DIMENSIONS if len(shared[d.name]) == 1
    ]
    sec.add(
        f"Combinations searched: {s.searched:,}. Printing both XnIDR totals "
        f"({' and '.join(r.printed.printed.text for r in res)}): {len(s.fits):,}. Of these, "
        f"{fit_bin:,} keep the Binarization rows, {fit_bop:,} the XNOR BOP and XNOR FLOP rows, "
        f"{fit_t9:,} Table 9's DR totals, and {all_ok:,} keep all three.",
        "",
        "What every fit shares: " + join(fixed) + ".",
        "",
    )
    if not s.fits:
        conclusion = ("No searched counting prints both totals: the residual is outside every "
                      "multiplicity and price searched.")  # fmt: skip
    elif all_ok:
        keep = tuple(f for f in s.fits if f.keeps_all)
        opts = s.shared_options(keep)
        conclusion = (
            f"{all_ok:,} countings print both totals and keep every other printed row; they "
            "share: "
            + join(
                [
                    f"{d.what} {opts[d.name][0]}"
                    for d in residual.DIMENSIONS
                    if len(opts[d.name]) == 1
                ]
            )
            + "."  # fmt: skip
        )
    else:
        n = len(s.fits)
        conclusion = (
            f"No fit keeps every other printed row: {n - fit_bin:,} of {n:,} break the "
            f"Binarization rows, {n - fit_bop:,} the XNOR rows, {n - fit_t9:,} Table 9. Within "
            "the searched space the totals are not the sum of Table 3's steps as the paper's "
            "other rows count them; the residual stays unexplained."
        )
    sec.add(conclusion, "")
    sec.findings.append(
        f"Table 5 XnIDR totals {' and '.join(r.printed.printed.text for r in res)} exceed "
        f"xncost's ({', '.join(exact_text(r.xncost) for r in res)}) by "
        f"{' and '.join(interval_text(r.per_pair, 2) for r in res)} FLOPs per capsule pair. A "
        f"structured search over {s.searched:,} countings of Table 3's steps finds {len(s.fits):,} "
        f"that print both totals, {all_ok:,} of which keep the Binarization, XNOR and Table 9 "
        "rows" + ("; the residual is unexplained." if not all_ok else ".")
    )


def _inverses(sec: Section, table5: Table) -> None:
    sec.add(
        "### XnIDR totals: single-symbol inverse solves",
        "",
        "The other symbols at the paper's values; integers by exact search over the "
        "accounting, roots by sympy:",
        "",
    )
    for r in residual.residuals():
        cell = next(c for c in table5.cells if c.model == r.model and c.metric == "total_flops")
        invs = total_inverses("xnidr", r.shape, cell.paper)
        sec.add(
            f"{label(r.model)} total {cell.paper.text} (xncost {exact_text(r.xncost)} at "
            f"N={r.shape.N}):",
            "",
            *pipe_table(INVERSE_HEADER, inverse_rows(invs)),
            "",
        )


def _ratios(sec: Section, table5: Table) -> None:
    checks = ratios.ratio_checks(table5)
    sec.add(
        "### Ratios to the original FC head: the cause each mismatch proves",
        "",
        "Cause `rounding`: both exact totals print as the paper's totals, the ratio of the "
        "printed (rounded) totals reproduces the printed ratio and the exact ratio does not. "
        "Cause `total`: xncost's total does not print as the paper's, and a total inside the "
        "printed total's interval, over the exact FC head, reproduces the printed ratio (the "
        "gap is the total's residual, above). Otherwise `unexplained`.",
        "",
        *pipe_table(
            [
                "setting",
                "model",
                "printed",
                "exact",
                "printed totals",
                "ratio from the printed total's interval",
                "cause",
            ],  # fmt: skip
            [
                [
                    k.cell.setting,
                    label(k.cell.model),
                    k.cell.printed.text,
                    f"{dec(k.why.exact)}%",
                    f"{k.total.printed.text} / {k.fc.printed.text} = {dec(k.why.of_printed, 4)}%",
                    interval_text(k.why.from_total, 2),
                    k.why.cause,
                ]
                for k in checks
            ],  # fmt: skip
        ),
        "",
    )
    by: dict[str, list[str]] = {}
    for k in checks:
        by.setdefault(k.why.cause, []).append(k.cell.model)
    sec.findings.append(
        f"The {len(checks)} mismatching Table 5 ratios: "
        + "; ".join(
            f"{len(v)} `{cause}` ({', '.join(sorted({label(m) for m in v}))})"
            for cause, v in sorted(by.items())
        )
        + ". Only `rounding` cells are the paper dividing its rounded totals; the `total` "
        "cells inherit the unexplained XnIDR totals."
    )


def section_table5() -> Section:
    t = build_table(5)
    sec = Section()
    sec.add("## Table 5: FLOPs of the FC heads and of XnODR / XnIDR", "", counts(t) + ".", "")
    kinds: dict[tuple[str, str], int] = {}
    for c in t.cells:
        if c.status == "mismatch":
            kinds[(c.model, c.metric)] = kinds.get((c.model, c.metric), 0) + 1
    sec.add(
        "Mismatches by model and metric: "
        + "; ".join(f"{label(m)} {metric} x{n}" for (m, metric), n in sorted(kinds.items()))
        + ". "
        + all_match_sentence(t),
        "",
    )
    _reading_tests(sec, 5)
    _map_side(sec)
    _residual(sec)
    _inverses(sec, t)
    _ratios(sec, t)
    sec.add("### All cells", "", *pipe_table(CELL_HEADER, cell_rows(t)), "")
    return sec


# ----------------------------------------------------------------------------- Table 7

BACKBONE_LABELS = {"mobilenet": "MobileNetV2", "resnet": "ResNet-50"}
READ_AS = {"round": "rounded", "truncate": "truncated"}


def section_table7() -> Section:
    import sympy as sp

    t = build_table(7)
    verdict = reading_verdict(7)
    reading = verdict.used
    sec = Section()
    sourced = "; ".join(
        f"{BACKBONE_LABELS[p]}: " + ", ".join(f"{n}, {why}" for n, why in named.items())
        for p, named in SOURCED_CAPS_IN.items()
    )
    sec.add(
        "## Table 7: Speed Up (Eqs. 12 and 15 as printed)",
        "",
        counts(t) + f", under {READING_WORDS[reading]} (the table's reading, decided below). "
        "Eq. 12 (XnODR) and Eq. 15 (XnIDR) at the paper's shapes (N = 160 MobileNetV2, 256 "
        "ResNet-50; M = 10, D = 8, E = 16).",
        "",
        "Eqs. 12 and 15 contain N and M only through N·M, so every N below has an M twin with "
        "the same N·M; in Eq. 12, D cancels. A capsule count is named as a source only when the "
        f"paper or the authors' code has it ({sourced}); any other N is a fit, and 8·N is the "
        "channel count it would need.",
        "",
    )
    _reading_tests(sec, 7)
    _speedup_cells(sec)
    for g in speedups.speedup_groups(t):
        where = ", ".join(c.setting for c in g.cells)
        here = g.here
        sec.add(
            f"### {label(g.model)} {g.printed} ({where}), under {READING_WORDS[g.reading]}: "
            f"{g.equation} gives {dec(g.cells[0].xncost, 4)} at N = {g.shape.N}",
            "",
            *pipe_table(INVERSE_HEADER, inverse_rows(g.inverses)),
            "",
            f"Cause: {_speedup_cause(here, g.model)}.",
            "",
        )
        other = next(r for r in READINGS if r != g.reading)
        there = g.readings[other]
        root = exact_text(g.n.roots[0]) if g.n.roots else "-"
        sec.findings.append(
            f"Table 7 {label(g.model)} {g.printed} ({where}), under "
            f"{READING_WORDS[g.reading]}: {g.equation} at N={g.shape.N} gives "
            f"{dec(here.shown, 2)}; {g.printed} needs {range_text(here.n_range)} (exact N = "
            f"{root}); cause: {_speedup_cause(here, g.model)}. Under "
            f"{READING_WORDS[other]} it would need {range_text(there.n_range)}: "
            f"{_speedup_cause(there, g.model)}."
        )
    c = speedups.corrected_speedups()
    sec.add(
        "### Corrected speed-ups",
        "",
        "Eq. 9 reads c·N_W as the length of one dot product and N_I as the number of dot "
        "products. Applied to the projectors (XnODR: dot products of D; XnIDR: of E):",
        "",
        f"- Eq. 12 corrected: {sp.sstr(c.eq12)}; d/dN = {c.d12}; at D = 8: {exact_text(c.at12)}.",
        f"- Eq. 15 corrected: {sp.sstr(c.eq15)}; d/dN = {c.d15}; at E = 16: {exact_text(c.at15)}.",
        f"- As printed, both grow with N towards lim N->oo = {c.limit12} (Eq. 12) and "
        f"{c.limit15} (Eq. 15): the printed 63.8-63.99 measure how close N·M·E² is to "
        "infinity, not the projector's speed-up.",
        "- A 64-bit word holds the whole dot product when D, E <= 64, so the packed-word "
        "bound is k / ceil(k/64) = 8 (XnODR) and 16 (XnIDR).",
        "",
    )
    sec.findings.append(
        f"Corrected Eqs. 12 / 15 (Eq. 9 applied to the projectors' dot products) give "
        f"{dec(c.at12)} and {dec(c.at15)}, with d/dN = {c.d12} and {c.d15}; the printed forms "
        f"tend to {c.limit12} as N grows and the word bound is 8 / 16."
    )
    return sec


def _speedup_cause(sr: SpeedupReading, model: str) -> str:
    """A cell's cause under one reading, in words, from `SpeedupReading.cause`."""
    preset = "resnet" if model.startswith("resnet") else "mobilenet"
    partner = label(sr.partner)
    if sr.cause == "paper":
        return f"`paper`: the paper's N = {CAPS_PRESETS[preset].N} gives it"
    if sr.cause == "sourced":
        return "`sourced`: " + ", ".join(
            f"N = {n}, {SOURCED_CAPS_IN[preset][n]}, gives {dec(speedup_at(model, n), 4)}"
            for n in sr.sourced
        )
    if sr.cause == "shared":
        return (
            f"`shared`: no sourced capsule count gives it, but {range_text(sr.shared)} gives "
            f"it and the same setting's {partner} cell (smallest N = {sr.shared[0]:,}, 8·N = "
            f"{8 * sr.shared[0]:,} channels): a fit, not a capsule count either network has"
        )
    if sr.cause == "fit":
        return (
            f"`fit`: only {range_text(sr.n_range)}, none a sourced capsule count, and none "
            f"gives the same setting's {partner} cell: unexplained"
        )
    return "`none`: no integer N gives it: unexplained"


def _speedup_cells(sec: Section) -> None:
    """Every Table 7 cell under both readings."""
    an = speedup_readings()
    rows = []
    for pc in load_table(7):
        a = an[(pc.setting, pc.model)]
        exact = speedup_at(pc.model, CAPS_PRESETS[pc.model.split("_")[0]].N)  # the paper's N
        row = [pc.setting, label(pc.model), pc.printed.text, dec(exact, 6)]
        row += [dec(a[r].shown, 2) + ("" if a[r].matches else " (differs)") for r in READINGS]
        for r in READINGS:
            cause = a[r].cause
            extra = {"sourced": ", ".join(map(str, a[r].sourced)),
                     "shared": range_text(a[r].shared)}.get(cause)  # fmt: skip
            row += [range_text(a[r].n_range), f"{cause} ({extra})" if extra else cause]
        rows.append(row)
    header = ["setting", "model", "printed", "at the paper's N"]
    header += [READ_AS[r] for r in READINGS]
    for r in READINGS:
        header += [f"N ({READ_AS[r]})", f"cause ({READ_AS[r]})"]
    sec.add(
        "### Every cell under both readings",
        "",
        "Each printed cell against Eq. 12 / 15 at the paper's N, read at two decimals both "
        "ways, with the integers N that give the printed figure under each reading and the "
        "cause they establish: `paper` (the paper's N gives it), `sourced` (another capsule "
        "count with a source does: the N named), `shared` (no sourced count does, but the N "
        "named also give the same setting's other capsule layer), `fit` (N that give this "
        "cell alone), `none` (no integer N).",
        "",
        *pipe_table(header, rows),
        "",
    )


def _reading_tests(sec: Section, number: int) -> None:
    """The tests that decide the table's reading, and the verdict."""
    v = reading_verdict(number)
    rows = [
        [
            t.what,
            str(len(t.items)),
            *(str(t.count(r)) for r in READINGS),
            *("; ".join(t.only(r)) or "-" for r in READINGS),
        ]
        for t in v.tests
    ]
    header = ["test", "items"] + [READ_AS[r] for r in READINGS]
    header += [f"only {READ_AS[r]} gives" for r in READINGS]
    if v.reading is None:
        verdict = ("Neither reading reproduces more items in every test: undecided; the table "
                   "is compared under rounding.")  # fmt: skip
    else:
        other = next(r for r in READINGS if r != v.reading)
        verdict = (
            f"Verdict: Table {number} follows {READING_WORDS[v.reading]}: it reproduces at "
            f"least as many items as {READING_WORDS[other]} in every test and more in "
            + join([t.what for t in v.tests if t.count(v.reading) > t.count(other)])
            + "."
        )
    sec.add(
        "### Rounding or truncation",
        "",
        "Every printed figure is read both ways: rounded half up to its printed decimals, and "
        "truncated to them. The table's reading is the one that reproduces at least as many "
        "items as the other in every test below and more in at least one.",
        "",
        *pipe_table(header, rows),
        "",
        verdict,
        "",
    )
    sec.findings.append(
        f"Table {number} follows "
        + (READING_WORDS[v.reading] if v.reading else "no reading more than the other")
        + ": "
        + "; ".join(
            f"{t.what}: "
            + ", ".join(f"{READING_WORDS[r]} {t.count(r)}" for r in READINGS)
            + f" of {len(t.items)}"
            for t in v.tests
        )
        + "."
    )


# ----------------------------------------------------------------------------- Table 9


def section_table9() -> Section:
    t = build_table(9)
    sec = Section()
    sec.add("## Table 9: FLOPs of the FC heads and of dynamic routing", "", counts(t) + ".", "")
    _reading_tests(sec, 9)
    twins = printed_lookup(5)
    for c in (c for c in t.cells if c.status == "mismatch"):
        root = fchead.side_root(c.paper)
        lo, hi = printed_interval(lambda k: fc_flops(resnet_fc_dims(k)), c.paper)
        twin = twins.get((c.setting, c.model, c.metric))
        twin_ok = twin is not None and twin.printed.matches(c.xncost)
        sec.add(
            f"- {c.setting} {label(c.model)}: printed {c.paper.text}; the head xncost counts "
            f"costs {int(c.xncost):,} = {c.shown}; the side that would print {c.paper.text} is "
            f"s = {exact_text(root) if root is not None else '-'} (integer s: {int_range(lo, hi)})"
            + (f"; Table 5 prints {twin.printed.text} for the same head" if twin else "")
            + ".",
            "",
        )
        typo = twin_ok and lo is None
        sec.findings.append(
            f"Table 9 prints {c.paper.text} for the ResNet-50 FC head that Table 5 prints as "
            f"{twin.printed.text if twin else '-'}: {int(c.xncost):,} FLOPs round to {c.shown}"
            + (f" and no integer map side gives {c.paper.text}: a typo." if typo else ".")
        )
    dr = [breakdown("dr", CAPS_PRESETS[p]) for p in ("mobilenet", "resnet")]
    per_pair = [(b.totals["flops"] - b.step("lp_out").flops) / (b.shape.N * b.shape.M) for b in dr]
    sec.add(
        "DR totals: 2 FLOPs per MAC in LP_out plus "
        + " and ".join(
            f"{exact_text(p)} (N={b.shape.N})" for p, b in zip(per_pair, dr, strict=True)
        )
        + " routing FLOPs per capsule pair (r·(2 + 2E) + (r-1)·2E at E = 16, r = 3).",
        "",
        "### All cells",
        "",
        *pipe_table(CELL_HEADER, cell_rows(t)),
        "",
    )
    return sec
