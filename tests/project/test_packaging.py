
"""A wheel carries what a non-editable install needs: the store of printed numbers, reference/."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.heavy
def test_wheel_ships_the_reference_tables(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    (wheel,) = tmp_path.glob("xncost-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    store = [f"table{n}.csv" for n in (4, 5, 7, 8, 9)] + ["figures.csv", "published_bnn.json"]
    for file in store:
        assert any(name.endswith(f"data/share/xncost/reference/{file}") for name in names), file


def test_reference_dir_falls_back_to_the_installed_data(monkeypatch, tmp_path):
    from xncost.paper import store

    monkeypatch.delenv("XNCOST_REFERENCE", raising=False)
    site = tmp_path / "site" / "xncost" / "paper" / "store.py"
    monkeypatch.setattr(store, "__file__", str(site))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert store.reference_dir() == tmp_path / "venv" / "share" / "xncost" / "reference"
