"""`xncost summary PATH.py:NAME` with hostile model files: the file's directory is importable
while it loads, and whatever the user's code raises is one `xncost: error:` line, exit 2;
every call into the user's code is guarded (xncost.profile.loader.user_code): its methods,
its `scales=` callbacks, os._exit / abort / fork / chdir, prints, and --timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from support import invoke

HEAD = "import torch\nfrom torch import nn\n"
BASE = (
    "class Base(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.conv = nn.Conv2d(3, 4, 3)\n    def forward(self, x):\n"
    "        return self.conv(x)\n"
)

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
    "parameters_raise": (
        BASE + "class M(Base):\n    def parameters(self, recurse=True):\n"
        "        raise RuntimeError('parameters exploded')\n",
        "M",
        "RuntimeError: parameters exploded",
    ),
    "modules_raise": (
        BASE + "class M(Base):\n    def modules(self):\n"
        "        raise RuntimeError('modules exploded')\n",
        "M",
        "RuntimeError: modules exploded",
    ),
    "named_children_raise": (
        BASE + "class M(Base):\n    def named_children(self):\n"
        "        raise RuntimeError('children exploded')\n",
        "M",
        "RuntimeError: children exploded",
    ),
    "scales_nan": (
        "from xncost.profile.binary import register_binary\n"
        "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.w = nn.Parameter(torch.ones(4, 3, 3, 3))\n"
        "    def forward(self, x):\n        return torch.nn.functional.conv2d(x, self.w)\n"
        "register_binary(M, weights=('w',), scales=lambda m, n, p: float('nan'))\n",
        "M",
        "the scales= callback of M returned nan for 'w'",
    ),
    "os_exit": (
        BASE + "import os\nclass M(Base):\n    def forward(self, x):\n        os._exit(3)\n",
        "M",
        "the model called os._exit(3), which xncost does not allow",
    ),
    "abort": (
        BASE + "import os\nclass M(Base):\n    def forward(self, x):\n        os.abort()\n",
        "M",
        "the model called os.abort(), which xncost does not allow",
    ),
    "fork": (
        BASE + "import os\nclass M(Base):\n    def forward(self, x):\n"
        "        os.fork()\n        return x\n",
        "M",
        "the model called os.fork(), which xncost does not allow",
    ),
    "kill_self": (
        BASE + "import os, signal\nclass M(Base):\n    def forward(self, x):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n",
        "M",
        "the model called os.kill(",
    ),
    "exit_at_import": ("import os\nos._exit(0)\n", "M", "the model called os._exit(0)"),
    "alarm": (
        BASE + "import signal\nclass M(Base):\n    def forward(self, x):\n"
        "        signal.alarm(1)\n        return x\n",
        "M",
        "the model called signal.alarm(1), which xncost does not allow",
    ),
    "setitimer": (
        "import signal\nsignal.setitimer(signal.ITIMER_PROF, 0.5)\n",
        "M",
        "the model called signal.setitimer(",
    ),
    "raise_signal": (
        "import signal\nsignal.raise_signal(signal.SIGINT)\n",
        "M",
        "the model called signal.raise_signal(",
    ),
    "keyboard_interrupt": (
        BASE + "class M(Base):\n    def forward(self, x):\n        raise KeyboardInterrupt\n",
        "M",
        "the model raised KeyboardInterrupt itself (no signal was received)",
    ),
    "multi_line_message": (
        "raise ValueError('first\\nsecond')\n",
        "M",
        "loading it failed: ValueError: first ...",
    ),
    "returns_int": ("def M():\n    return 5\n", "M", "M() returned an int, not an nn.Module"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_model_code_is_one_line(case, tmp_path, monkeypatch):
    body, name, line = HOSTILE[case]
    (tmp_path / f"{case}.py").write_text(HEAD + body)
    monkeypatch.chdir(tmp_path)
    r = invoke(["summary", f"{case}.py:{name}", "--input", "1x3x8x8"])
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
    r = invoke(["summary", "odd.py:build", "--input", "1x3x8x8", "-f", "json"])
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
    r = invoke(["summary", "models/net.py:build", "--input", "1x3x8x8", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["totals"]["float_macs"] == 4 * 3 * 8 * 8
    assert sys.path == before
    sys.modules.pop("blocks_for_xncost_test", None)


def _summary(tmp_path, monkeypatch, body: str, *args: str):
    (tmp_path / "user.py").write_text(HEAD + BASE + body)
    monkeypatch.chdir(tmp_path)
    return invoke(["summary", "user.py:M", "--input", "1x3x8x8", *args])


def test_a_model_that_changes_directory_does_not_move_the_output(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    body = (
        "import os\nclass M(Base):\n    def forward(self, x):\n"
        f"        os.chdir({str(elsewhere)!r})\n        return self.conv(x)\n"
    )
    r = _summary(tmp_path, monkeypatch, body, "-f", "json", "--out", "o")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "summary_user_M.json").is_file() and list(elsewhere.iterdir()) == []
    assert os.getcwd() == str(tmp_path)


def test_a_models_prints_never_reach_the_json_output(tmp_path, monkeypatch, capfd):
    body = (
        "import os\nclass M(Base):\n    def forward(self, x):\n"
        "        print('hello from forward')\n        os.write(1, b'raw descriptor write\\n')\n"
        "        return self.conv(x)\n"
    )
    r = _summary(tmp_path, monkeypatch, body, "-f", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["model"] == "M"  # stdout is the JSON alone
    assert "hello from forward" in r.stderr
    assert "raw descriptor write" in r.stderr
    assert "raw descriptor write" not in capfd.readouterr().out


@pytest.mark.heavy
def test_timeout_stops_a_model_that_never_returns(tmp_path, monkeypatch):
    body = (
        "class M(Base):\n    def forward(self, x):\n        while True:\n"
        "            try:\n                pass\n            except BaseException:\n"
        "                pass\n"
    )
    r = _summary(tmp_path, monkeypatch, body, "--timeout", "0.5")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "did not finish within --timeout 0.5 s" in r.stderr
    for bad in ("0", "-1", "nan", "inf"):
        r = _summary(tmp_path, monkeypatch, "class M(Base):\n    pass\n", "--timeout", bad)
        assert r.exit_code == 2 and "--timeout" in r.stderr, bad
    r = invoke(["summary", "nin", "--timeout", "5"])
    assert r.exit_code == 2 and "your own model" in r.stderr


def test_two_models_named_alike_write_two_files(tmp_path, monkeypatch):
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.py").write_text(HEAD + BASE.replace("Base", "Net"))
    monkeypatch.chdir(tmp_path)
    for ref in ("a.py:Net", "b.py:Net", "a.py:Net"):
        r = invoke(["summary", ref, "--input", "1x3x8x8", "-f", "json", "--out", "o"])
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "summary_a_Net.json",
        "summary_b_Net.json",
    ]


def test_a_reference_of_two_colons_says_so(tmp_path, monkeypatch):
    (tmp_path / "m.py").write_text(HEAD + BASE)
    monkeypatch.chdir(tmp_path)
    r = invoke(["summary", "m.py:Base:extra", "--input", "1x3x8x8"])
    assert r.exit_code == 2 and "one colon" in r.stderr and ".py file" not in r.stderr, r.output


# -------------------------------------------------- the real process: signals and threads

SWALLOW = (
    HEAD + "import time\nclass M(nn.Module):\n    def __init__(self):\n"
    "        super().__init__()\n        self.l = nn.Linear(4, 2)\n"
    "    def forward(self, x):\n        open('started', 'w').close()\n        try:\n"
    "            time.sleep(20)\n        except{catch}:\n            pass\n"
    "        return self.l(x)\n"
)


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("sig", "catch"), [(signal.SIGINT, " BaseException"), (signal.SIGTERM, "")]
)
def test_a_signal_the_model_swallows_still_interrupts(tmp_path, sig, catch):
    (tmp_path / "swallow.py").write_text(SWALLOW.replace("{catch}", catch))
    proc = subprocess.Popen(
        [sys.executable, "-m", "xncost", "summary", "swallow.py:M", "--input", "1x4", "-f", "csv"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    start = time.monotonic()
    while not (tmp_path / "started").exists() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err.decode()) == (130, b"", "xncost: error: interrupted\n")
    assert time.monotonic() - start < 15  # the model's sleep, cut short, was swallowed


@pytest.mark.heavy
def test_a_thread_the_model_leaves_running_does_not_hold_the_exit(tmp_path):
    (tmp_path / "threads.py").write_text(
        HEAD + "import threading, time\nclass M(nn.Linear):\n    def forward(self, x):\n"
        "        threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "        return super().forward(x)\n"
        "def build():\n    return M(4, 2)\n"
    )
    start = time.monotonic()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "xncost",
            "summary",
            "threads.py:build",
            "--input",
            "1x4",
            "-f",
            "json",
            "--out",
            "o",
            "--timeout",
            "30",
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 30
    assert json.loads(r.stdout)["totals"]["float_macs"] == 8
    assert json.loads((tmp_path / "o" / "summary_threads_build.json").read_text()) == json.loads(
        r.stdout
    )
