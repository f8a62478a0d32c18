"""`xncost explain`: every step, its formula and numbers, the right totals."""

import json
import math
import re
from fractions import Fraction

import pytest
import typer
from support import invoke

from xncost.cli.commands.analysis import register
from xncost.core.accounting import breakdown
from xncost.core.shapes import CapsShape, FCShape

app = typer.Typer()
register(app)


def run(*args):
    return invoke(list(args))


def _eval(text):
    """Evaluate a substituted formula exactly ('2*1*8*16' or '3*...*ceiling(16/64)')."""
    body = re.sub(r"(?<![\w.])(\d+)(?![\w.])", r"F(\1)", text.replace("ceiling(", "_ceil("))
    return eval(body, {"F": Fraction, "_ceil": lambda x: math.ceil(x)})  # noqa: S307


# Published figures (paper Tables 5 and 9): layer totals that explain must print.
@pytest.mark.parametrize(
    "layer,args,total",
    [
        ("xnodr", [], "2,225,200"),
        ("xnodr", ["--preset", "resnet"], "3,560,320"),
        ("dr", [], "675,200"),
        ("dr", ["--caps-in", "256"], "1,080,320"),
        ("xnidr", [], "463,680"),
    ],
)
def test_markdown_has_every_step_and_the_published_totals(layer, args, total):
    r = run("explain", layer, *args)
    assert r.exit_code == 0, r.output
    b = breakdown(layer, CapsShape(256 if args else 160, 10, 8, 16))
    for i, s in enumerate(b.steps, 1):
        assert f"## Step {i}. {s.name}: " in r.stdout
        assert s.ref in r.stdout
    assert f"**{total}**" in r.stdout
    assert "## Totals" in r.stdout


@pytest.mark.parametrize("layer", ["dr", "xnodr", "xnidr"])
@pytest.mark.parametrize("conv", ["paper", "ops"])
def test_json_numbers_substitute_to_the_values(layer, conv):
    shape = ["--caps-in", "37", "--caps-out", "7", "--dim-in", "5", "--dim-out", "70"]
    r = run("explain", layer, *shape, "--iterations", "4", "--batch", "3",
            "--convention", conv, "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    b = breakdown(layer, CapsShape(37, 7, 5, 70, 4, 3), conv)
    assert [s["name"] for s in d["steps"]] == [s.name for s in b.steps]
    for js, s in zip(d["steps"], b.steps, strict=True):
        for key in ("flops", "bops", "params"):
            if key in js:
                assert js[key]["value"] == getattr(s, key)
                assert _eval(js[key]["substituted"]) == getattr(s, key), (s.name, key)
            else:
                assert getattr(s, key) == 0
        generals = " ".join(js[k]["general"] for k in ("flops", "bops", "params") if k in js)
        assert all(term in generals for term in js["terms"])
    assert d["totals"]["flops"]["value"] == b.totals["flops"]
    assert _eval(d["totals"]["flops"]["substituted"]) == b.totals["flops"]


def test_ops_terms_are_listed():
    r = run("explain", "dr", "--convention", "ops")
    assert "Convention terms: softmax_per_element = 5." in r.stdout
    assert "squash_per_capsule = 5, squash_per_element = 3" in r.stdout


def test_speedup_section():
    r = run("explain", "xnidr")
    assert "## Speed-up (Eq. 15, Eq. 9)" in r.stdout
    assert "25600/401 (~63.8404)" in r.stdout  # Eq. 15 at N=160: 409600 / (6400 + 16)
    assert "1*16*10*160/64 + 1*10*160) = 12.8\n" in r.stdout  # a finite decimal: no "~"


def test_fc_head():
    r = run("explain", "fc", "--dims", "1280,512,256,128,10")
    assert r.exit_code == 0
    total = breakdown("fc", FCShape((1280, 512, 256, 128, 10))).totals["flops"]
    assert total == 1_640_960 and f"**{total:,}**" in r.stdout
    assert r.stdout.count("## Step ") == 4


@pytest.mark.parametrize(
    "args",
    [
        ("explain", "xnodr", "--format", "xml"),
        ("explain", "conv"),
        ("explain", "fc", "--caps-in", "3"),
        ("explain", "dr", "--dims", "3,4"),
        ("explain", "dr", "--caps-in", "0"),
        ("explain", "dr", "--convention", "macs"),
    ],
)
def test_bad_input(args):
    r = invoke(list(args))
    assert r.exit_code == 2
    assert r.stderr.startswith("xncost: error: ") and r.stderr.count("\n") == 1


def test_cost_says_its_total_flops_hold_the_xnor_flops():
    from xncost.core.accounting import breakdown
    from xncost.core.render import breakdown_markdown
    from xncost.core.shapes import CapsShape

    b = breakdown("xnidr", CapsShape(160, 10, 8, 16))
    steps = sum(s.flops for s in b.steps)
    assert steps + b.totals["xnor_flops"] == b.totals["flops"]
    assert f"float FLOPs {steps:,} (the steps' FLOPs)" in breakdown_markdown(b)
    assert "XNOR FLOPs 0" not in breakdown_markdown(breakdown("dr", CapsShape(160, 10, 8, 16)))
