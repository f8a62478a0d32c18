"""Renderers of a whole-network summary (markdown, CSV, JSON, rich), with the figures other
implementations print beside xncost's where they print them.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from xncost.exact import exact_str
from xncost.profile.results import LayerSummary, Summary

COLUMNS = (
    ("name", "layer"),
    ("type", "type"),
    ("kind", "kind"),
    ("output_shape", "output"),
    ("params", "params"),
    ("params_1bit", "1-bit params"),
    ("float_macs", "float MACs"),
    ("float_flops", "float FLOPs"),
    ("binary_macs", "binary MACs"),
    ("bops", "BOPs"),
    ("xnor_flops", "XNOR FLOPs"),
    ("memory_bytes", "memory (B)"),
    ("eq9", "Eq. 9"),
)
CSV_COLUMNS = (
    "name",
    "type",
    "output_shape",
    "calls",
    "kind",
    "binary",
    "params",
    "params_32bit",
    "params_1bit",
    "scales",
    "float_macs",
    "float_flops",
    "binary_macs",
    "binary_weight_macs",
    "binary_activation_macs",
    "ternary_macs",
    "bops",
    "xnor_flops",
    "ops",
    "memory_bytes",
    "weight_binarization_flops",
    "eq9_c",
    "eq9_n_w",
    "eq9_n_i",
    "eq9_speedup",
    "notes",
)


def num(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else exact_str(v)


def _cells(r: LayerSummary) -> list[str]:
    out = []
    for key, _ in COLUMNS:
        v = getattr(r, key)
        if key == "output_shape":
            out.append("" if v is None else "x".join(map(str, v)))
        elif key == "eq9":
            out.append("" if v is None else f"{float(v.speedup):.2f} (c={v.c}, N_W={v.n_w})")
        elif isinstance(v, str):
            out.append(v)
        else:
            out.append(num(v))
    return out


def _total_cells(s: Summary) -> list[str]:
    t = s.totals
    eq = s.speedup["eq9_binary_layers"]
    out = ["total", "", "", s.input_text + " in"]
    for key, _ in COLUMNS[4:]:
        if key == "eq9":
            out.append("" if eq is None else f"{float(eq):.2f} (binary layers)")
        else:
            out.append(num(t[key]))
    return out


def detection_lines(s: Summary) -> list[str]:
    """What was counted as 1-bit, the MACs with one binary operand, and the warnings."""
    d, t = s.detection, s.totals
    if d.one_bit:
        ops: dict[str, int] = {}
        for _, op, n in d.one_bit:
            ops[op] = ops.get(op, 0) + n
        rows = list(dict.fromkeys(row for row, _, _ in d.one_bit))
        line = (
            "1-bit products (both operands binary up to scale): "
            + ", ".join(f"{op} x{n}" for op, n in ops.items())
            + f" in {len(rows)} layer{'s' if len(rows) > 1 else ''}: "
            + ", ".join(rows)
            + "."
        )
    else:
        line = "1-bit products: none (no product had both operands binary up to scale)."
    lines = [line]
    parts = [
        f"{label} {t[key]:,}"
        for key, label in (
            ("binary_weight_macs", "binary-weight MACs"),
            ("binary_activation_macs", "binary-activation MACs"),
            ("ternary_macs", "ternary MACs"),
        )
        if t[key]
    ]
    if parts:
        lines.append(
            "Of the float MACs: " + ", ".join(parts) + " (one operand binary or ternary, the "
            "other real: float work under every convention)."
        )
    if d.patterns:
        lines.append("Declared binary (--binary): " + ", ".join(d.patterns) + ".")
    return lines + list(s.warnings)


def _memory_line(s: Summary) -> str:
    """Parameters by precision and the memory they take against an all-float network."""
    t = s.totals
    text = f"Parameters {t['params']:,}: "
    if not t["params_1bit"]:
        return text + f"all at 32 bits, no 1-bit weights; memory {t['memory_bytes']:,} bytes."
    return text + (
        f"{t['params_32bit']:,} at 32 bits, {t['params_1bit']:,} at 1 bit "
        f"(+{t['scales']:,} 32-bit scales); memory {t['memory_bytes']:,} bytes vs "
        f"{t['float_memory_bytes']:,} all-float: {float(s.memory_saving):.2f}x smaller "
        "(1-bit weights alone: 32x)."
    )


def footer_lines(s: Summary) -> list[str]:
    """Totals, memory, speed-ups and conventions as sentences."""
    t = s.totals
    conv = s.flops_by_convention
    sp = s.speedup
    lines = [
        *detection_lines(s),
        _ops_line(s),
        "Float FLOPs by convention: "
        + ", ".join(f"{k} {v:,}" for k, v in conv.items())
        + f"; float MACs {t['float_macs']:,}; 1-bit MACs {t['binary_macs']:,}.",
        _memory_line(s),
    ]
    if t["weight_binarization_flops"]:
        lines.append(
            f"Of the float FLOPs, {t['weight_binarization_flops']:,} binarize the weights on "
            "every forward pass (as the reference layers run); a deployed network stores B_W "
            "and alpha_W and skips them."
        )
    if sp["eq9_binary_layers"] is not None:
        lines.append(
            f"Speed-up (Eq. 9, S = c N_W N_I / (c N_W N_I / {s.word} + N_I), per layer in the "
            "table): "
            f"binary layers together {float(sp['eq9_binary_layers']):.2f}x; whole network "
            f"with its float MACs unchanged {float(sp['eq9_network']):.2f}x; under `"
            f"{s.convention}` (float FLOPs + {s.conv.flops_per_mac} x binary MACs over "
            f"{_ops_name(s)}, weight binarization excluded) {float(sp['ops_network']):.2f}x."
        )
    if s.unknown_ops:
        lines.append("Ops without a counting rule (counted 0): " + ", ".join(s.unknown_ops))
    return lines + list(s.comparisons)


def bop_rule(s: Summary) -> str:
    """How the summary's convention prices a 1-bit product, in words."""
    c = s.conv
    if c.bops_per_binary_mac:
        return "1 per 1-bit MAC"
    return f"{c.bops_per_word} per packed {c.word_bits}-bit word of each +-1 dot product"


def _ops_name(s: Summary) -> str:
    return s.conv.total_label


def _ops_line(s: Summary) -> str:
    """The `ops` total, described by the convention it follows."""
    t = s.totals
    sums = f"{num(t['float_flops'])} + {num(t['bops'])}/{s.word} = {num(t['ops'])}"
    return s.conv.total_sentence(sums, bop_rule(s))


def _title(s: Summary) -> str:
    return f"{s.model}: input {s.input_text}, convention {s.convention}"


def summary_markdown(s: Summary) -> str:
    heads = [h for _, h in COLUMNS]
    out = [
        f"# Summary of {_title(s)}",
        "",
        "| " + " | ".join(heads) + " |",
        "|---|---|---|---|" + "---:|" * (len(heads) - 4),
    ]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in s.layers]
    out.append("| " + " | ".join(f"**{c}**" if c else "" for c in _total_cells(s)) + " |")
    out += [""] + [f"- {line}" for line in footer_lines(s)]
    return "\n".join(out) + "\n"


def summary_csv(s: Summary) -> str:
    """One row per layer, then a `total` row (exact values)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in s.layers:
        d = r.as_dict()
        eq = d.pop("eq9") or {}
        d["output_shape"] = "" if r.output_shape is None else "x".join(map(str, r.output_shape))
        d.update({f"eq9_{k}": eq.get(k, "") for k in ("c", "n_w", "n_i", "speedup")})
        d["notes"] = ""
        if eq:
            d["eq9_speedup"] = f"{float(eq['speedup']):.6f}"
        w.writerow([exact_str(d[c]) if not isinstance(d[c], str) else d[c] for c in CSV_COLUMNS])
    t = {k: exact_str(v) for k, v in s.totals.items()}
    t.update(name="total", notes=" ".join(detection_lines(s)))
    w.writerow([t.get(c, "") for c in CSV_COLUMNS])
    return buf.getvalue()


def summary_json(s: Summary) -> str:
    from xncost.report.to_json import dumps

    return dumps(s.to_dict())


# At a narrow width the rich table splits in three: what each layer is, its float and binary
# products, then its XNOR FLOPs and Eq. 9.
NARROW_PARTS = (
    ("name", "type", "output_shape", "params", "params_1bit", "memory_bytes"),
    ("name", "float_macs", "float_flops", "binary_macs", "bops"),
    ("name", "kind", "xnor_flops", "eq9"),
)


def _rich_part(
    title: str, keys: tuple[str, ...], rows: list[tuple[list[str], str | None]], width: int | None
) -> Any:
    """One rich table of the `keys` columns, within `width` when given: numbers wrap (fold)
    rather than being cut, and headers wrap before values do (render's column fitting)."""
    from rich import box
    from rich.table import Table

    from xncost.report.fit import fit_table

    index = {key: i for i, (key, _) in enumerate(COLUMNS)}
    heads = [dict(COLUMNS)[k] for k in keys]
    cols = [[h, *(cells[index[k]] for cells, _ in rows)] for h, k in zip(heads, keys, strict=True)]

    def table(widths: list[int]) -> Any:
        rt = Table(
            title=title, box=box.SIMPLE_HEAD if width else box.HEAVY_HEAD, pad_edge=not width
        )
        for key, head, w in zip(keys, heads, widths, strict=True):
            just = "left" if key in ("name", "type", "kind", "output_shape") else "right"
            rt.add_column(head, justify=just, width=w, overflow="fold")
        return rt

    rt = fit_table(cols, table, width)
    for n, (cells, style) in enumerate(rows):
        if n == len(rows) - 1:
            rt.add_section()
        rt.add_row(*(cells[index[k]] for k in keys), style=style)
    return rt


def summary_rich(s: Summary, width: int | None = None) -> Any:
    """The summary as one rich table, or (when wider than `width`) the NARROW_PARTS tables."""
    from rich.console import Group
    from rich.text import Text

    from xncost.report.fit import measured_width

    rows = [(_cells(r), "cyan" if r.binary else None) for r in s.layers]
    rows.append((_total_cells(s), "bold"))
    title = f"Summary of {_title(s)}"
    footer = [Text(line) for line in footer_lines(s)]
    whole = _rich_part(title, tuple(k for k, _ in COLUMNS), rows, None)
    if width is None or measured_width(whole) <= width:
        return Group(whole, *footer)
    parts = [
        _rich_part(title if i == 0 else "", keys, rows, width)
        for i, keys in enumerate(NARROW_PARTS)
    ]
    return Group(*parts, *footer)
