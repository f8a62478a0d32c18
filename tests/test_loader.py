"""`xncost summary PATH.py:NAME` with hostile model files: the file's directory is importable
while it loads, and whatever the user's code raises is one `xncost: error:` line, exit 2."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from xncost.cli import app

runner = CliRunner()

HEAD = "import torch\nfrom torch import nn\n"

# name -> (file body, NAME, the line's distinctive part)
HOSTILE = {
    "out_channels_none": (
        "class M(nn.Conv2d):\n    pass\n"
        "def build():\n    m = nn.Sequential(M(3, 4, 1))\n    m[0].out_channels = None\n"
        "    m.add_module('odd', nn.Identity())\n    m.odd.out_channels = 'wide'\n"
        "    m[0].forward = lambda x: (_ for _ in ()).throw(RuntimeError('in forward'))\n"
        "    return m\n",
        "build",
        "forward pass failed on input [1, 3, 8, 8]: RuntimeError: in forward",
    ),
    "eval_raises": (
        "class M(nn.Module):\n    def train(self, mode=True):\n"
        "        raise RuntimeError('no eval here')\n",
        "M",
        "RuntimeError: no eval here",
    ),
    "module_getattr": (
        "def __getattr__(name):\n    raise RuntimeError(f'lazy {name} broke')\n",
        "build",
        "reading build failed: RuntimeError: lazy build broke",
    ),
    "str_raises": (
        "class Odd(Exception):\n    def __str__(self):\n        raise ValueError('no str')\n"
        "raise Odd()\n",
        "build",
        "loading it failed: Odd",
    ),
    "base_exception": (
        "class Stop(BaseException):\n    pass\nraise Stop('custom base')\n",
        "build",
        "loading it failed: Stop: custom base",
    ),
    "generator_exit": ("raise GeneratorExit('at import')\n", "build", "GeneratorExit: at import"),
    "exit_in_forward": (
        "import sys\nclass M(nn.Module):\n    def forward(self, x):\n"
        "        sys.exit('bye from forward')\n",
        "M",
        "forward pass failed on input [1, 3, 8, 8]: SystemExit: bye from forward",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_model_code_is_one_line(case, tmp_path, monkeypatch):
    body, name, line = HOSTILE[case]
    (tmp_path / f"{case}.py").write_text(HEAD + body)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["summary", f"{case}.py:{name}", "--input", "1x3x8x8"])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("xncost: error: ") and r.output.count("\n") == 1, r.output
    assert line in r.output
    assert "Traceback" not in r.output


def test_out_channels_that_are_not_ints_are_not_counted(tmp_path, monkeypatch):
    (tmp_path / "odd.py").write_text(
        HEAD + "def build():\n    m = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Identity())\n"
        "    m[1].out_channels = None\n    return m\n"
    )
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["summary", "odd.py:build", "--input", "1x3x8x8", "-f", "json"])
    assert r.exit_code == 0, r.output


def test_a_model_file_imports_its_sibling(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    (models / "blocks_for_xncost_test.py").write_text(
        HEAD + "def block():\n    return nn.Conv2d(3, 4, 1)\n"
    )
    (models / "net.py").write_text(
        "from blocks_for_xncost_test import block\nfrom torch import nn\n"
        "def build():\n    return nn.Sequential(block())\n"
    )
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    r = runner.invoke(app, ["summary", "models/net.py:build", "--input", "1x3x8x8", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["totals"]["float_macs"] == 4 * 3 * 8 * 8
    assert sys.path == before
    sys.modules.pop("blocks_for_xncost_test", None)
