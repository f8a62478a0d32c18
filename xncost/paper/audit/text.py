"""The numbers in the paper's text (abstract, Sections 3.3 and 4.x) checked like table cells.

Each check quotes the text, computes what the tables or xncost's formulas give, and records
whether the text holds and, when it does not, the cause the numbers establish.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from xncost.core.accounting import breakdown
from xncost.core.shapes import CAPS_PRESETS, MOBILENET_FC_DIMS, RESNET_FC_HIDDEN
from xncost.paper.audit.inverse import printed_interval
from xncost.paper.audit.numbers import dec, int_range
from xncost.paper.labels import MODEL_LABELS
from xncost.paper.printed import ratio_cause
from xncost.paper.store import figure, load_table, printed_lookup, sourced
from xncost.paper.tables import fc_flops
from xncost.paper.wholemodel import INPUT_SIDES


@dataclass(frozen=True)
class TextCheck:
    """One statement of the text: what it says, what the numbers give, whether it holds."""

    where: str
    says: str
    computed: str
    holds: bool
    note: str = ""  # the cause when it does not hold; a caveat when it does


def _t(table: int, setting: str, model: str, metric: str):  # noqa: ANN202
    return printed_lookup(table)[(setting, model, metric)].printed


def _abstract() -> TextCheck:
    acc, params, flops = (figure(f"abstract_{k}").text for k in ("accuracy", "params", "flops"))
    rows = {}
    for c in load_table(4):
        rows.setdefault((c.setting, c.model), {})[c.metric] = c.printed.text
    hits = [
        f"{MODEL_LABELS[m]} {s}"
        for (s, m), v in rows.items()
        if (v.get("accuracy"), v.get("params"), v.get("total_flops")) == (acc, params, flops)
    ]
    said = sourced("abstract_accuracy")
    return TextCheck(
        said.where,
        said.quote,
        "Table 4 rows printing all three: " + (", ".join(hits) or "none"),
        any(h.endswith("up-cifar10") and not h.endswith("noup-cifar10") for h in hits),
    )


def _sub_experiments() -> TextCheck:
    n = sum(1 for c in load_table(4) if c.metric == "accuracy")
    said = sourced("sub_experiments")
    return TextCheck(
        said.where, said.quote, f"Table 4 prints {n} accuracies", said.printed.matches(n)
    )


def _highest_ratio() -> TextCheck:
    ratios = [
        c.printed
        for c in load_table(5)
        if c.metric == "ratio_to_fc" and c.model.startswith("resnet")
    ]
    top = max(ratios, key=lambda p: p.value)
    said = sourced("highest_resnet_ratio")
    return TextCheck(
        said.where,
        said.quote,
        f"highest printed ResNet ratio in Table 5: {top.text}",
        top.text == said.printed.text,
    )


def _resnet_xnidr_cheaper() -> TextCheck:
    rows = [
        (s, _t(4, s, "resnet_xnidr", "total_flops"), _t(4, s, "resnet_xnodr", "total_flops"))
        for s in sorted({c.setting for c in load_table(4)})
    ]
    cheaper = all(a.value < b.value for _, a, b in rows)
    same = all(
        _t(4, s, "resnet_xnidr", "params").text == _t(4, s, "resnet_xnodr", "params").text
        for s, _, _ in rows
    )
    return TextCheck(
        "Section 4.4",
        "ResNet_XnIDR costs fewer FLOPs than ResNet_XnODR on all three data sets, with the same "
        "parameters",
        f"Table 4: fewer FLOPs in {sum(a.value < b.value for _, a, b in rows)} of {len(rows)} "
        f"settings; equal PARA: {'yes' if same else 'no'}",
        cheaper and same,
    )


def _speedup_order() -> TextCheck:
    t7 = printed_lookup(7)
    pairs = [
        (s, t7[(s, f"{bb}_xnodr", "speedup")].printed, t7[(s, f"{bb}_xnidr", "speedup")].printed)
        for (s, m, _) in t7
        for bb in ("resnet", "mobilenet")
        if m == f"{bb}_xnodr"
    ]
    higher = sum(a.value > b.value for _, a, b in pairs)
    return TextCheck(
        "Section 4.4",
        "Table 7: models with XnODR have a higher Speed Up than those with XnIDR",
        f"XnODR above XnIDR in {higher} of {len(pairs)} (backbone, setting) pairs",
        higher == len(pairs),
    )


def _remainder() -> TextCheck:
    b = breakdown("xnodr", CAPS_PRESETS["resnet"]).totals
    rest = b["flops"] - b["binarization_flops"]
    dr = breakdown("dr", CAPS_PRESETS["resnet"]).totals["flops"]
    said = sourced("xnodr_remainder")
    p = said.printed
    return TextCheck(
        said.where,
        said.quote,
        f"{b['flops']:,} - {b['binarization_flops']:,} = {rest:,} (prints {p.format(rest)}) < "
        f"{dr:,}",
        p.matches(rest) and rest < dr,
    )


def _dr_wins() -> TextCheck:
    acc4 = {(c.setting, c.model): c.printed.value for c in load_table(4) if c.metric == "accuracy"}
    wins = {"all": {}, "capsule": {}}
    for c in load_table(8):
        if c.metric != "accuracy":
            continue
        bb = c.model.split("_")[0]
        ds = c.setting.split("-", 1)[1]
        for (s, m), a in acc4.items():
            if s != c.setting or not m.startswith(bb):
                continue
            for kind in ("all", "capsule") if "_" in m else ("all",):
                won, n = wins[kind].get(ds, (0, 0))
                wins[kind][ds] = (won + (c.printed.value > a), n + 1)

    def count(kind: str, sets: tuple[str, ...]) -> tuple[int, int]:
        return (sum(wins[kind][d][0] for d in sets), sum(wins[kind][d][1] for d in sets))

    mm = count("all", ("mnist", "multimnist"))
    cf = count("all", ("cifar10",))
    caps = count("capsule", ("mnist", "multimnist", "cifar10"))
    said = {k: figure(f"dr_better{k}").value for k in ("", "_cifar10", "_mnist", "_mnist_of")}
    holds = (
        mm == (said["_mnist"], said["_mnist_of"])
        and cf[0] == said["_cifar10"]
        and mm[0] + cf[0] == said[""]
    )
    where = sourced("dr_better")
    return TextCheck(
        where.where,
        where.quote,
        f"Table 8 DR accuracy above Table 4 (same backbone, setting, data set): MNIST and "
        f"MultiMNIST {mm[0]} of {mm[1]} ({dec(Fraction(100 * mm[0], mm[1]), 1)}%), CIFAR-10 "
        f"{cf[0]} of {cf[1]}; against XnODR / XnIDR alone: {caps[0]} of {caps[1]}",
        holds,
        "the counts hold only when the original ResNet-50 / MobileNetV2 are counted too, though "
        "the text says 'better than those with XnODR/XnIDR'"
        if holds
        else "",
    )


SETTING = "up-mnist-cifar10"  # Table 5's capsule and MobileNetV2 cells are equal in all four


def _mobilenet_fc() -> TextCheck:
    fc = fc_flops(MOBILENET_FC_DIMS)
    said = sourced("mobilenet_fc_flops")
    return TextCheck(said.where, said.quote, f"{fc:,}", said.printed.matches(fc))


def _resnet_like_head() -> TextCheck:
    dims = (MOBILENET_FC_DIMS[0], *RESNET_FC_HIDDEN)
    flops = fc_flops(dims)
    said = sourced("resnet_like_head_flops")
    return TextCheck(
        said.where,
        said.quote,
        f"{'-'.join(map(str, dims))}: {flops:,}",
        said.printed.matches(flops),
    )


def _xnodr_figures() -> TextCheck:
    x = breakdown("xnodr", CAPS_PRESETS["mobilenet"]).totals
    keys = ("flops", "xnor_bops", "xnor_flops", "binarization_flops")
    said = sourced("xnodr_flops")
    return TextCheck(
        said.where,
        said.quote,
        "; ".join(f"{x[key]:,}" for key in keys),
        all(figure(f"xnodr_{key}").matches(x[key]) for key in keys),
    )


def _binarization_excess() -> TextCheck:
    fc = fc_flops(MOBILENET_FC_DIMS)
    binar = breakdown("xnodr", CAPS_PRESETS["mobilenet"]).totals["binarization_flops"]
    p_bin = _t(5, SETTING, "mobilenet_xnodr", "binarization_flops")
    p_fc = _t(5, SETTING, "mobilenetv2", "total_flops")
    said = figure("binarization_excess")
    diff, printed_diff = binar - fc, p_bin.value - p_fc.value
    rounding = (
        not said.matches(diff)
        and said.matches(printed_diff)
        and p_bin.matches(binar)
        and p_fc.matches(fc)
    )
    return TextCheck(
        "Section 4.6.2",
        f"binarization is {said.text} more than the {p_fc.text} of all FC layers",
        f"exact {binar:,} - {fc:,} = {diff:,} (prints {said.format(diff)}); printed "
        f"{p_bin.text} - {p_fc.text} = {int(printed_diff):,}",
        said.matches(diff),
        f"rounding: the text subtracts the printed, rounded figures ({binar:,} and {fc:,} print "
        f"as {p_bin.text} and {p_fc.text})"
        if rounding
        else "",
    )


def _xnodr_ratio() -> TextCheck:
    fc = fc_flops(MOBILENET_FC_DIMS)
    total = breakdown("xnodr", CAPS_PRESETS["mobilenet"]).totals["flops"]
    p_total = _t(5, SETTING, "mobilenet_xnodr", "total_flops")
    p_fc = _t(5, SETTING, "mobilenetv2", "total_flops")
    table_ratio = _t(5, SETTING, "mobilenet_xnodr", "ratio_to_fc")
    text = sourced("xnodr_ratio")
    said = ratio_cause(text.printed, p_total, total, p_fc, fc)
    table = ratio_cause(table_ratio, p_total, total, p_fc, fc)
    return TextCheck(
        text.where,
        f"{text.quote} (Table 5 prints {table_ratio.text})",
        f"exact {total:,} / {fc:,} = {dec(said.exact, 4)}%; {p_total.text} / {p_fc.text} = "
        f"{dec(said.of_printed, 4)}%",
        said.cause == "exact",
        f"Table 5's {table_ratio.text} is the cell in error; its cause: {table.cause}",
    )


def _xnodr_input() -> TextCheck:
    base = CAPS_PRESETS["resnet"]
    printed = _t(5, "up-mnist-cifar10", "resnet_xnodr", "binarization_flops")
    said = sourced("xnodr_input_caps")
    caps = int(said.printed.value)
    at_text = breakdown("xnodr", base.replace(caps_in=caps)).totals[
        "binarization_flops"
    ]
    lo, hi = printed_interval(
        lambda n: breakdown("xnodr", base.replace(caps_in=n)).totals["binarization_flops"], printed
    )
    return TextCheck(
        said.where,
        said.quote,
        f"ResNet_XnODR at N = {caps}: binarization {at_text:,} "
        f"(prints {printed.format(at_text)}); Table 5's {printed.text} needs N = "
        f"{int_range(lo, hi)}",
        printed.matches(at_text),
        f"the ResNet cells are computed at N = {base.N} (2048 channels / 8), not {caps}",
    )


def _same_across_data_sets() -> TextCheck:
    t7 = load_table(7)
    rows: dict[tuple[str, str], set[str]] = {}
    for c in t7:
        rows.setdefault((c.setting.split("-")[0], c.model), set()).add(c.printed.text)
    varying = [
        f"{MODEL_LABELS[m]} ({'with' if up == 'up' else 'without'} upsampling)"
        for (up, m), v in rows.items()
        if len(v) > 1
    ]
    t5 = load_table(5)
    caps: dict[tuple[str, str], set[str]] = {}
    for c in t5:
        if "_" in c.model and c.metric != "ratio_to_fc":
            caps.setdefault((c.model, c.metric), set()).add(str(c.printed.value))
    same5 = all(len(v) == 1 for v in caps.values())
    from xncost.paper.tables import build_table

    bad = {
        (c.setting.split("-")[0], c.model) for c in build_table(7).cells if c.status == "mismatch"
    }
    varying_keys = [k for k, v in rows.items() if len(v) > 1]
    return TextCheck(
        "Section 4.6.2",
        "FLOPs and Speed Up of XnODR (and, 'the same pattern', XnIDR) stay the same across all "
        "three data sets",
        f"Table 5's capsule-layer figures {'are' if same5 else 'are not'} equal across settings; "
        f"Table 7 rows that vary across data sets: {len(varying)} ({', '.join(varying)})",
        same5 and not varying,
        "every varying row holds a Table 7 cell that Eq. 12 / 15 does not give at the paper's N "
        "(see Table 7)"
        if varying_keys and all(k in bad for k in varying_keys)
        else "",
    )


def _upsample_side() -> TextCheck:
    said, used = sourced("upsample_side_said"), sourced("upsample_side_used")
    sides = [str(side) for side in INPUT_SIDES.values()]  # Tables 4 and 8
    return TextCheck(
        said.where,
        said.quote,
        f"the same paragraph {used.quote}",
        said.printed.value == used.printed.value,
        f"{said.printed.text} is no input size the paper uses ({', '.join(sides)})",
    )


def _xnidr_cheaper() -> TextCheck:
    o = breakdown("xnodr", CAPS_PRESETS["mobilenet"]).totals
    i = breakdown("xnidr", CAPS_PRESETS["mobilenet"]).totals
    return TextCheck(
        "Section 3.3.3",
        "XnIDR does fewer binarization FLOPs, and fewer FLOPs in total, than XnODR",
        f"N = 160: binarization {i['binarization_flops']:,} < {o['binarization_flops']:,}; "
        f"total {i['flops']:,} < {o['flops']:,}",
        i["binarization_flops"] < o["binarization_flops"] and i["flops"] < o["flops"],
    )


def text_checks() -> list[TextCheck]:
    """Every checked statement of the text, in the paper's order."""
    return [
        _abstract(),
        _xnidr_cheaper(),
        _upsample_side(),
        _sub_experiments(),
        _highest_ratio(),
        _resnet_xnidr_cheaper(),
        _speedup_order(),
        _remainder(),
        _dr_wins(),
        _mobilenet_fc(),
        _resnet_like_head(),
        _xnodr_figures(),
        _binarization_excess(),
        _xnodr_ratio(),
        _xnodr_input(),
        _same_across_data_sets(),
    ]
