"""`xncost conventions`: the registry's conventions and prices, in every format, torch-free."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from support import REPO, run

from xncost.conventions import ALL_CONVENTIONS, Convention


def test_json_lists_every_convention_with_its_prices():
    r = run("conventions", "--format", "json")
    assert r.exit_code == 0
    records = json.loads(r.stdout)
    assert [c["name"] for c in records] == list(ALL_CONVENTIONS)
    for rec in records:
        conv = ALL_CONVENTIONS[rec["name"]]
        assert rec["scopes"] == list(conv.scopes)
        assert rec["prices"] == {f: getattr(conv, f) for f in Convention.table_fields()}


def test_csv_has_a_column_per_convention_and_a_row_per_price():
    rows = list(csv.reader(io.StringIO(run("conventions", "-f", "csv").stdout)))
    assert rows[0] == ["price", *ALL_CONVENTIONS]
    assert [r[0] for r in rows[1:]] == ["scope", *Convention.table_fields()]


@pytest.mark.parametrize("fmt", ["table", "md"])
def test_text_formats_describe_each(fmt):
    out = run("conventions", "-f", fmt).stdout
    assert all(c.description[:40] in out.replace("\n", " ") for c in ALL_CONVENTIONS.values())


def test_does_not_import_torch():
    code = (
        "import sys\nfrom xncost.__main__ import main\n"
        "sys.argv = ['xncost', 'conventions', '-f', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(repr([m for m in ('torch', 'sympy', 'pandas') if m in sys.modules]))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert p.stderr.strip() == "[]"
