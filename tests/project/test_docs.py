"""The project cites only what it ships: its own docs/, the paper, and public addresses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT_DIRS = ("xncost", "tests", "docs", "reference", "reports", "benchmarks")
SUFFIXES = {".py", ".md", ".csv", ".c", ".h", ".toml", ".json"}


def _project_texts() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for d in TEXT_DIRS:
        files += [p for p in (ROOT / d).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    return [p for p in files if "fixtures" not in p.parts or p.suffix != ".json"]


def test_no_reference_to_documents_outside_the_repository() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _project_texts()
        if re.search(r"\bS[P]EC\b", p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []


def test_every_cited_doc_exists() -> None:
    cited = {
        m
        for p in _project_texts()
        for m in re.findall(r"docs/[\w-]+\.md", p.read_text(encoding="utf-8", errors="replace"))
    }
    assert cited, "the project cites its docs somewhere"
    assert sorted(c for c in cited if not (ROOT / c).is_file()) == []
