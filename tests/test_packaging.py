"""A wheel carries what a non-editable install needs: the tables of reference/."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
    for n in (4, 5, 7, 8, 9):
        assert any(name.endswith(f"data/share/xncost/reference/table{n}.csv") for name in names)


def test_reference_dir_falls_back_to_the_installed_data(monkeypatch, tmp_path):
    from xncost.paper import printed as paper

    monkeypatch.delenv("XNCOST_REFERENCE", raising=False)
    monkeypatch.setattr(paper, "__file__", str(tmp_path / "site" / "xncost" / "paper.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert paper.reference_dir() == tmp_path / "venv" / "share" / "xncost" / "reference"
