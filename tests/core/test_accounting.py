"""Per-step accounting: the paper's figures, every convention term, properties of the totals."""

from dataclasses import replace
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from xncost.conventions import OPS, PAPER, Convention, get_convention
from xncost.core.accounting import TOTAL_KEYS, breakdown
from xncost.core.formulas import eq12_speedup, eq15_speedup, xnbdr_speedup
from xncost.core.layers import caps_layers, get_layer
from xncost.core.shapes import CAPS_PRESETS, MOBILENET_FC_DIMS, CapsShape, FCShape, resnet_fc_dims
from xncost.errors import XncostError

MOBILE, RESNET = CAPS_PRESETS["mobilenet"], CAPS_PRESETS["resnet"]

# Published figures (paper Tables 5 and 9).
PUBLISHED = [
    ("xnodr", MOBILE, "binarization_flops", 1_958_400),
    ("xnodr", MOBILE, "xnor_bops", 76_800),
    ("xnodr", MOBILE, "xnor_flops", 1_200),
    ("xnodr", MOBILE, "flops", 2_225_200),
    ("xnodr", RESNET, "xnor_bops", 122_880),
    ("xnodr", RESNET, "xnor_flops", 1_920),
    ("xnodr", RESNET, "flops", 3_560_320),
    ("xnidr", MOBILE, "binarization_flops", 463_680),
    ("xnidr", MOBILE, "xnor_bops", 9_600),
    ("xnidr", MOBILE, "xnor_flops", 150),
    ("xnidr", RESNET, "binarization_flops", 740_160),
    ("xnidr", RESNET, "xnor_bops", 15_360),
    ("dr", MOBILE, "flops", 675_200),
    ("dr", RESNET, "flops", 1_080_320),
]


@pytest.mark.parametrize("layer,shape,key,value", PUBLISHED)
def test_published_figures(layer, shape, key, value):
    assert breakdown(layer, shape, "paper").totals[key] == value


@pytest.mark.parametrize(
    "dims,value",
    [
        (MOBILENET_FC_DIMS, 1_640_960),
        (resnet_fc_dims(4), 68_167_680),
        (resnet_fc_dims(3), 38_807_552),
        (resnet_fc_dims(2), 17_836_032),
    ],
)
def test_fc_heads(dims, value):
    assert breakdown("fc", FCShape(dims)).totals["flops"] == value


shapes = st.builds(
    CapsShape,
    st.integers(1, 300),
    st.integers(1, 40),
    st.integers(1, 140),
    st.integers(1, 140),
    st.integers(1, 6),
    st.integers(1, 9),
)
layers = st.sampled_from(caps_layers())
convs = st.sampled_from(["paper", "ops"])


@given(layers, shapes, convs)
def test_totals_equal_sum_of_steps(layer, shape, conv):
    b = breakdown(layer, shape, conv)
    t = b.totals
    assert t["flops"] == sum(s.flops for s in b.steps) + sum(s.xnor_flops for s in b.steps)
    assert t["xnor_bops"] == sum(s.bops for s in b.steps)
    assert t["xnor_flops"] == Fraction(t["xnor_bops"], b.convention.word_bits)
    assert t["binarization_flops"] == sum(s.flops for s in b.steps if s.kind == "binarization")
    assert t["params"] == shape.N * shape.M * shape.D * shape.E
    assert all(isinstance(s.flops, int) and isinstance(s.bops, int) for s in b.steps)


@given(layers, shapes, convs, st.integers(2, 5))
def test_scaling_in_batch(layer, shape, conv, k):
    one = breakdown(layer, shape.replace(batch=1), conv).totals["flops"]
    many = breakdown(layer, shape.replace(batch=k), conv).totals["flops"]
    if "xnor_affine" in get_layer(layer).xnorizes:  # W_Cap is binarized once per pass
        weight = breakdown(layer, shape, conv).step("binarize_weight").flops
        assert many - weight == k * (one - weight)
    else:
        assert many == k * one


@given(layers, shapes, convs, st.integers(2, 4))
def test_scaling_in_caps_out_is_linear(layer, shape, conv, k):
    one = breakdown(layer, shape, conv).totals
    many = breakdown(layer, shape.replace(caps_out=k * shape.M), conv).totals
    for key in TOTAL_KEYS:
        assert many[key] == k * one[key]


@given(layers, shapes, convs)
def test_affine_in_caps_in(layer, shape, conv):
    # from N = 2 on (under `ops` a length-1 weighted sum is one mul, not a multiply-add)
    f = [
        breakdown(layer, shape.replace(caps_in=shape.N + 1 + i), conv).totals["flops"]
        for i in range(3)
    ]
    assert f[2] - f[1] == f[1] - f[0] > 0


def test_dot_products_longer_than_a_word_cost_more():
    b64 = breakdown("xnodr", MOBILE.replace(dim_in=64)).totals["xnor_bops"]
    b65 = breakdown("xnodr", MOBILE.replace(dim_in=65)).totals["xnor_bops"]
    b128 = breakdown("xnodr", MOBILE.replace(dim_in=128)).totals["xnor_bops"]
    assert b65 == 2 * b64 == b128
    b32 = breakdown("xnodr", MOBILE, get_convention("paper", 32)).totals["xnor_bops"]
    assert b32 == breakdown("xnodr", MOBILE).totals["xnor_bops"]  # D=8 fits in any word
    assert (
        breakdown("xnidr", MOBILE.replace(dim_out=40), get_convention("paper", 32)).totals[
            "xnor_bops"
        ]
        == 2 * breakdown("xnidr", MOBILE.replace(dim_out=40)).totals["xnor_bops"]
    )


# How many times each convention term is applied, per layer, at shape s (the multiplicity).
def _uses(layer, s):
    n, m, d, e, r, b = s.N, s.M, s.D, s.E, s.r, s.B
    pairs = b * n * m
    routing = {
        "softmax_per_element": r * pairs,
        "squash_per_element": r * b * m * e,
        "squash_per_capsule": r * b * m,
    }
    if layer == "dr":
        return {
            "flops_per_mac": b * n * m * d * e + r * pairs * e + (r - 1) * pairs * e,
            "agreement_add": (r - 1) * pairs,
            **routing,
        }
    if layer == "xnbdr":
        return {
            "flops_per_mac": r * pairs * e,
            "binarize_per_element": b * n * m * d + n * m * d * e + (r - 1) * (pairs + b * m) * e,
            "rescale_per_output": b * n * m * e + (r - 1) * pairs,
            "agreement_add": (r - 1) * pairs,
            **routing,
        }
    if layer == "xnodr":
        return {
            "flops_per_mac": r * pairs * e + (r - 1) * pairs * e,
            "binarize_per_element": b * n * m * d + n * m * d * e,
            "rescale_per_output": b * n * m * e,
            "agreement_add": (r - 1) * pairs,
            **routing,
        }
    return {
        "flops_per_mac": b * n * m * d * e + r * pairs * e,
        "binarize_per_element": (r - 1) * (pairs * e + b * m * e),
        "rescale_per_output": (r - 1) * pairs,
        "agreement_add": (r - 1) * pairs,
        **routing,
    }


COST_TERMS = [name for name in Convention.price_fields() if name != "bops_per_word"]


@pytest.mark.parametrize("layer", caps_layers())
@pytest.mark.parametrize("term", COST_TERMS)
@pytest.mark.parametrize("base", [PAPER, OPS])
def test_every_convention_term(layer, term, base):
    s = CapsShape(7, 3, 5, 11, 4, 2)  # no length-1 contraction: single_mac_flops unused
    before = breakdown(layer, s, base).totals["flops"]
    after = breakdown(layer, s, replace(base, **{term: getattr(base, term) + 1})).totals["flops"]
    assert after - before == _uses(layer, s).get(term, 0)


@pytest.mark.parametrize("layer", caps_layers())
@pytest.mark.parametrize("base", [PAPER, OPS])
def test_single_mac_term_prices_length_one_contractions(layer, base):
    s = CapsShape(1, 3, 1, 1, 3, 2)  # N = D = E = 1: every contraction has length 1
    bumped = replace(base, single_mac_flops=base.single_mac_flops + 1)
    delta = breakdown(layer, s, bumped).totals["flops"] - breakdown(layer, s, base).totals["flops"]
    n, m, e, r, b = 1, 3, 1, 3, 2
    xnorized = get_layer(layer).xnorizes  # an xnorized product has no float contraction
    uses = r * b * m * e + (0 if "xnor_agreement" in xnorized else (r - 1) * b * n * m)
    uses += 0 if "xnor_affine" in xnorized else b * n * m * e
    assert delta == uses


@pytest.mark.parametrize("term", ["fc_bias", "fc_activation", "flops_per_mac"])
def test_fc_convention_terms(term):
    s = FCShape((6, 5, 4, 3), batch=2)
    before = breakdown("fc", s, OPS).totals["flops"]
    after = breakdown("fc", s, replace(OPS, **{term: getattr(OPS, term) + 1})).totals["flops"]
    uses = {
        "fc_bias": 2 * (5 + 4 + 3),
        "fc_activation": 2 * (5 + 4),
        "flops_per_mac": 2 * (30 + 20 + 12),
    }
    assert after - before == uses[term]


@pytest.mark.parametrize("layer", caps_layers())
def test_bops_per_word_term(layer):
    s = CapsShape(7, 3, 70, 11, 4, 2)
    base = breakdown(layer, s, PAPER).totals["xnor_bops"]
    more = breakdown(layer, s, replace(PAPER, bops_per_word=4)).totals["xnor_bops"]
    assert more * 3 == base * 4


@pytest.mark.parametrize("layer", caps_layers())
def test_symbolic_breakdown_equals_numeric(layer):
    sym = breakdown(layer, CapsShape.symbols(), "ops")
    shape = CapsShape(37, 7, 5, 11, 4, 3)
    subs = dict(
        zip(
            sp.symbols("N M D E r B", positive=True, integer=True),
            (37, 7, 5, 11, 4, 3),
            strict=True,
        )
    )
    num = breakdown(layer, shape, "ops")
    for a, b in zip(sym.steps, num.steps, strict=True):
        assert sp.Integer(b.flops) == sp.sympify(a.flops).subs(subs)
        assert sp.Integer(b.bops) == sp.sympify(a.bops).subs(subs)


def test_xnidr_single_iteration_has_no_agreement():
    b = breakdown("xnidr", MOBILE.replace(iterations=1))
    assert b.totals["xnor_bops"] == 0 and b.totals["binarization_flops"] == 0
    assert b.speedup.from_steps is None


def test_bad_layer_and_shape():
    with pytest.raises(XncostError):
        breakdown("conv", MOBILE)
    with pytest.raises(XncostError):
        breakdown("fc", MOBILE)
    with pytest.raises(XncostError):
        breakdown("dr", FCShape((3, 4)))
    for bad in (0, -1, 2.5, True, "7"):
        with pytest.raises(XncostError):
            CapsShape(bad, 10, 8, 16)
    with pytest.raises(XncostError):
        get_convention("flops")
    with pytest.raises(XncostError):
        get_convention("paper", 48)


def test_huge_shapes_stay_exact():
    b = breakdown("xnidr", CapsShape(10**7, 10, 8, 10**4, 3, 2**20))
    f = b.totals["flops"]
    assert isinstance(f, int) and f > 2**63
    assert f == sum(s.flops for s in b.steps) + sum(s.xnor_flops for s in b.steps)


def test_memory_and_speedup_fields():
    b = breakdown("xnodr", MOBILE)
    m = b.memory
    assert m["params_1bit"] == 160 * 10 * 8 * 16 and m["params_32bit"] == 160 * 10 * 16
    assert m["memory_bits"] == 32 * m["params_32bit"] + m["params_1bit"]
    assert m["float_memory_bits"] == 32 * b.totals["params"]
    s = b.speedup
    assert s.eq9 == Fraction(64 * 8, 72) and s.word_bound == 8
    assert s.from_steps == Fraction(2 * 8 * 64, 3)  # 2 FLOPs/MAC x D over 3/64 per output
    assert breakdown("dr", MOBILE).speedup is None


def test_exact_text_of_fractions_keeps_every_digit():
    from xncost.exact import exact_str

    assert exact_str(Fraction(10**30 * 64 + 1, 64)) == "1000000000000000000000000000000.015625"
    assert exact_str(Fraction(-3, 4)) == "-0.75"
    assert exact_str(Fraction(25641, 64)) == "400.640625"
    assert exact_str(Fraction(1, 3)) == "1/3"
    assert exact_str(Fraction(6, 3)) == "2"
    big = Fraction(2**200 + 1, 2**70)
    whole, frac = exact_str(big).split(".")
    assert Fraction(int(whole)) + Fraction(int(frac), 10 ** len(frac)) == big


@given(shapes, convs)
def test_xnbdr_sums_the_terms_of_xnodr_and_xnidr(shape, conv):
    """Paper convention for XnBDR: binarization FLOPs and XNOR BOPs are XnODR's plus XnIDR's;
    softmax and weighted sum stay float (DR's steps)."""
    both, o, i, dr = (breakdown(x, shape, conv) for x in ("xnbdr", "xnodr", "xnidr", "dr"))
    for key in ("binarization_flops", "xnor_bops", "xnor_flops"):
        assert both.totals[key] == o.totals[key] + i.totals[key]
    for step in ("softmax", "weighted_sum", "squash"):
        assert both.step(step) == dr.step(step)
    assert both.totals["flops"] == o.totals["flops"] + i.totals["flops"] - dr.totals["flops"]
    assert both.memory == o.memory


def test_xnbdr_speedup():
    s = breakdown("xnbdr", MOBILE).speedup
    n, m, d, e = 160, 10, 8, 16
    x, y = n * m * e * e * d, n * m * e * e
    assert s.printed == Fraction(x + y, Fraction(x + y, 64) + d + e)
    assert min(eq12_speedup(n, m, d, e), eq15_speedup(n, m, e)) < s.printed < 64
    ops = n * m * e * d + 2 * n * m * e  # LP_out dot products of D, r - 1 = 2 agreements of E
    assert s.eq9 == Fraction(ops, Fraction(ops, 64) + n * m * e + 2 * n * m)
    assert s.word_bound == Fraction(ops, n * m * e + 2 * n * m)  # D, E <= 64: one word each
    lp_out, agreement = (
        breakdown("dr", MOBILE).step("lp_out"),
        breakdown("dr", MOBILE).step("agreement"),
    )
    xnor = breakdown("xnbdr", MOBILE).totals["xnor_flops"]
    assert s.from_steps == Fraction(lp_out.flops + agreement.flops, xnor)
    sym = breakdown("xnbdr", CapsShape.symbols()).speedup.printed
    assert (
        sp.simplify(sym - xnbdr_speedup(*sp.symbols("N M D E", positive=True, integer=True))) == 0
    )
