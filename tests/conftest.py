import os
from pathlib import Path

import pytest
from hypothesis import settings
from support import REPO, invoke

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (README.md, docs/, reports/, reference/)."""
    return REPO


@pytest.fixture(scope="session")
def cli():
    """cli(args) -> the result of `xncost ARGS...` run in-process (support.invoke)."""
    return invoke


def pytest_collection_modifyitems(items):
    """`-m fast`, the quick subset: every test not marked `slow` (outside the default run) or
    `heavy` (seconds each: subprocesses, kills, fuzzing, whole networks, training)."""
    for item in items:
        if not (item.get_closest_marker("slow") or item.get_closest_marker("heavy")):
            item.add_marker(pytest.mark.fast)
