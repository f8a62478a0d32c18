"""Shared by the paper wing's tests (xncost/paper/): the repository root and the CLI runner."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (reports/, docs/, reference/)."""
    return REPO


@pytest.fixture(scope="session")
def cli() -> CliRunner:
    return CliRunner()


# Not in the fast subset: tests on the literature's four ImageNet networks (counted once per
# module, about 8 s), the audit's structured search recounted by hand (about 4 s) and the
# tests that build torch models (torch's import alone takes seconds).
SLOWER_FIXTURES = {"measured"}
SLOWER_TESTS = {
    "test_structured_search_recounted_by_hand",
    "test_one_real_measurement_is_consistent",
    "test_signconv_is_registered_binary",
}


def pytest_collection_modifyitems(items):
    """Mark this folder's tests `fast` (python -m pytest -m fast), but the slow and slower."""
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents or item.get_closest_marker("slow"):
            continue
        if SLOWER_FIXTURES & set(item.fixturenames) or item.originalname in SLOWER_TESTS:
            continue
        item.add_marker(pytest.mark.fast)
