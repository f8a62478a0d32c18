"""Shared by the report writers' tests (xncost/report/): a terminal that records what it prints."""

import io

import pytest


@pytest.fixture
def printed():
    """printed(renderable, width) -> the text a terminal of `width` columns shows."""
    from rich.console import Console

    def show(renderable, width: int) -> str:
        con = Console(width=width, record=True, file=io.StringIO())
        con.print(renderable)
        return con.export_text()

    return show
