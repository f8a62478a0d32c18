"""A summary beside published figures (xncost.paper.comparisons)."""

import pytest

from xncost.paper.comparisons import XNOR_NET_EQ9, annotate
from xncost.paper.store import figure
from xncost.profile.summary import summarize_model, summary_json, summary_markdown


def test_xnor_net_example_is_the_printed_theoretical_speedup():
    assert figure("xnornet_speedup_theory").matches(XNOR_NET_EQ9.speedup)


@pytest.fixture(scope="module")
def nin_pair():
    return summarize_model("nin"), summarize_model("nin-xnor")


@pytest.mark.heavy
def test_annotate_adds_comparisons_every_format_prints(nin_pair):
    plain, xnor = nin_pair
    assert plain.comparisons == () and xnor.comparisons == ()
    a_plain, a_xnor = annotate(plain), annotate(xnor)
    # the NIN figures for both; XNOR-Net's Eq. 9 example only where there are binary products
    assert any("0.23 GMac" in line for line in a_plain.comparisons)
    assert not any("XNOR-Net's figure" in line for line in a_plain.comparisons)
    assert any("XNOR-Net's figure" in line for line in a_xnor.comparisons)
    for line in a_xnor.comparisons:
        assert line in summary_markdown(a_xnor)
    assert '"comparisons"' in summary_json(a_xnor) and '"comparisons"' not in summary_json(xnor)
    assert a_xnor.totals == xnor.totals


@pytest.mark.heavy
def test_no_comparisons_for_an_unpublished_model():
    s = annotate(summarize_model("alexnet"))
    assert not any("GMac" in line for line in s.comparisons)
