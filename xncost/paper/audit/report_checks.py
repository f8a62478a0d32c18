"""The audit's checks across tables, of the text and of the equations, rendered from the
data of `crosstable` and `text`."""

from __future__ import annotations

from xncost.core.shapes import CAPS_PRESETS
from xncost.paper.audit import crosstable, text
from xncost.paper.audit.numbers import dec, exact_text, interval_text
from xncost.paper.audit.sections import Section, join, label
from xncost.paper.store import load_table
from xncost.report.to_markdown import pipe_table

# ----------------------------------------------------------------------------- cross-table


def section_crosstable() -> Section:
    sec = Section()
    sec.add(
        "## Across tables: the identities the tables imply",
        "",
        "A difference of two printed figures stands for an interval (each end open where a "
        "printed interval's end is); a candidate is consistent when it lies in that interval "
        "(or, for a candidate that is itself an interval, overlaps it).",
        "",
    )
    for fam in crosstable.families():
        labels = list(dict.fromkeys(c.label for i in fam.identities for c in i.candidates))
        rows = []
        shown = [
            i for i in fam.identities if fam.key != "same-input" or not all(i.verdicts().values())
        ]
        for ident in shown:
            v = ident.verdicts()
            values = {c.label: c.values for c in ident.candidates}
            cells = [
                ("consistent" if v[label] else "**contradicted**")
                + f" ({interval_text(values[label])})"
                if label in v
                else "-"
                for label in labels
            ]
            terms = " ".join(t.text for t in ident.terms).lstrip("+ ")
            rows.append([ident.label, terms, interval_text(ident.interval), *cells])
        tally = fam.tally()
        sec.add(f"### {fam.title}", "", f"Assumption: {fam.assumption}.", "")
        if fam.key == "same-input":
            sec.add(f"{len(fam.identities)} pairs checked; listed: the contradicted ones.", "")
        if rows:
            sec.add(*pipe_table(["identity", "printed", "interval", *labels], rows), "")
        sec.add(
            "Result: "
            + "; ".join(
                f"{label}: {ok} consistent, {bad} contradicted"
                for label, (ok, bad) in tally.items()
            )
            + ".",
            "",
        )
        contradicted = [i.label for i in fam.identities if not any(i.verdicts().values())]
        if contradicted:
            sec.add("No candidate fits: " + "; ".join(contradicted) + ".", "")
    _implied(sec)
    return sec


def _implied(sec: Section) -> None:
    sec.add(
        "### Capsule heads implied by Tables 4 and 8",
        "",
        "head = (Table 4 model - Table 8 DR model) + DR head, with xncost's DR head (which "
        "Table 9 prints), intersected over the four settings:",
        "",
    )
    rows = []
    for h in crosstable.implied_heads():
        rows.append(
            [
                label(h.model),
                interval_text(h.common) if h.common else "empty (settings disagree)",
                interval_text(h.table5),
                ("consistent" if h.common and h.common.overlaps(h.table5) else "**contradicted**"),
                f"{h.xncost:,}",
                (
                    "consistent"
                    if crosstable.contains_int(h.common, h.xncost)
                    else "**contradicted**"
                ),
            ]  # fmt: skip
        )
    sec.add(
        *pipe_table(
            [
                "model",
                "implied head",
                "Table 5 total",
                "Table 5 vs implied",
                "xncost",
                "xncost vs implied",
            ],
            rows,
        ),  # fmt: skip
        "",
    )
    for h in crosstable.implied_heads():
        if h.common is None:
            sec.findings.append(
                f"Tables 4 and 8 imply no single {label(h.model)} head: the Table 4 - Table 8 "
                "differences of the four settings have no common value."
            )
            continue
        printed_ok = h.common.overlaps(h.table5)
        xncost_ok = crosstable.contains_int(h.common, h.xncost)
        xncost_prints = h.xncost in h.table5
        excluding = [st for st, iv in h.per_setting if not crosstable.contains_int(iv, h.xncost)]
        text = (
            f"Tables 4 and 8 imply a {label(h.model)} head in {interval_text(h.common)} FLOPs "
            f"(Table 4 - Table 8 over the four settings, plus the DR head): "
            f"{'consistent' if printed_ok else 'inconsistent'} with the printed Table 5 total "
            f"{interval_text(h.table5)}; xncost's {h.xncost:,} "
        )
        if xncost_ok:
            text += "lies in it."
        elif xncost_prints:
            text += (f"prints as the Table 5 total and lies outside only the Table 4 - Table 8 "
                     f"interval of {join(excluding)}.")  # fmt: skip
        else:
            text += (f"lies outside it (excluded by {join(excluding)})"
                     + ("; the residual is in the authors' own counts, not a Table 5 misprint."
                        if printed_ok else "."))  # fmt: skip
        sec.findings.append(text)
    for fam in crosstable.families():
        bad = [i.label for i in fam.identities if not any(i.verdicts().values())]
        if bad:
            sec.findings.append(f"{fam.title}: no candidate fits {'; '.join(bad)}.")


# ----------------------------------------------------------------------------- text


def section_text() -> Section:
    sec = Section()
    checks = text.text_checks()
    sec.add(
        "## The text's numbers",
        "",
        "Statements of the abstract and Sections 3.3-4.6 that carry numbers, checked against "
        "the tables and xncost's formulas:",
        "",
        *pipe_table(
            ["where", "the text says", "the numbers give", "holds", "cause or caveat"],
            [
                [c.where, c.says, c.computed, "yes" if c.holds else "**no**", c.note or "-"]
                for c in checks
            ],  # fmt: skip
        ),
        "",
    )
    for c in checks:
        if not c.holds:
            sec.findings.append(
                f"{c.where}: '{c.says}' does not hold: {c.computed}"
                + (f"; {c.note}." if c.note else ".")
            )
    return sec


# ----------------------------------------------------------------------------- rest


def section_tables_4_8() -> Section:
    sec = Section()
    sec.add("## Tables 4 and 8: whole models", "")
    for n in (4, 8):
        cells = load_table(n)
        metrics: dict[str, int] = {}
        for c in cells:
            metrics[c.metric] = metrics.get(c.metric, 0) + 1
        models = sorted({label(c.model) for c in cells})
        sec.add(
            f"- Table {n}: {len(cells)} cells ("
            + ", ".join(f"{k} x{v}" for k, v in sorted(metrics.items()))
            + f") for {', '.join(models)}: whole-model figures need measured models (xncost "
            f"table{n}); their differences are checked above (across tables).",
        )
    sec.add("")
    return sec


def section_equations() -> Section:
    import sympy as sp

    from xncost.core.formulas import eq10_corrected, eq10_printed, eq11_printed, eq12_speedup

    n, m, d, e = sp.symbols("N M D E", positive=True, integer=True)
    e10p, e10c = eq10_printed(n, m, d, e), eq10_corrected(n, m, d, e)
    ratio10 = sp.simplify(e10p / e10c)
    e11p = eq11_printed(n, m, d, e)
    from_10_11 = sp.simplify(e10p / e11p)
    e12p = eq12_speedup(n, m, d, e)
    p = CAPS_PRESETS["mobilenet"]
    vals = {n: p.N, m: p.M, d: p.D, e: p.E}
    s1011, s12 = from_10_11.subs(vals), e12p.subs(vals)
    sec = Section()
    sec.add(
        "## The paper's equations",
        "",
        f"1. Eq. 10 counts dim_out twice: printed {sp.sstr(e10p)} vs one dot product of D per "
        f"output {sp.sstr(e10c)}; printed / corrected = {ratio10} ({int(e10p.subs(vals)):,} vs "
        f"{int(e10c.subs(vals)):,} at the MobileNet shape).",
        f"2. Eq. 11 adds caps_out (M) but Eq. 12's denominator adds dim_in (D): Eq. 10 / Eq. 11 "
        f"= {sp.sstr(from_10_11)}, Eq. 12 = {sp.sstr(sp.simplify(e12p))}; at the MobileNet "
        f"shape (D = {p.D}, M = {p.M}): {exact_text(s1011)} vs {exact_text(s12)}"
        + (" (they agree)" if s1011 == s12 else " (they differ)")
        + ".",
        "",
    )
    sec.findings.append(
        f"Eq. 10 multiplies by E twice (printed / corrected = {ratio10}); Eq. 11 adds M while "
        f"Eq. 12's denominator adds D (Eq. 10 / Eq. 11 = {dec(s1011, 4)} vs Eq. 12 = "
        f"{dec(s12, 4)} at the MobileNet shape)."
    )
    return sec
