"""OUT/validation.csv: any damaged or oversized file is one error line naming it, and runs
appending at once each add their row."""

import csv
import multiprocessing
import os
from pathlib import Path

import pytest

from xncost.errors import XncostError
from xncost.train import results
from xncost.train.results import COLUMNS, append_result, read_rows

ROWS_PER_WRITER = 25


@pytest.mark.parametrize(
    "body",
    [
        "a" * (csv.field_size_limit() + 1) + "\n",  # beyond the csv module's field limit
        '"unterminated\n',
        "fc,1\n",
        "\udcff".encode("utf-8", "surrogateescape").decode("latin-1") + "\n",
    ],
)
def test_a_damaged_validation_csv_is_one_error_naming_it(tmp_path, body):
    path = tmp_path / "validation.csv"
    path.write_text(",".join(COLUMNS) + "\n" + body, encoding="latin-1")
    with pytest.raises(XncostError) as info:
        read_rows(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 300


def test_an_oversized_validation_csv_is_refused_before_it_is_read(tmp_path):
    """A sparse file of 8 GiB: refused from its size, nothing allocated."""
    path = tmp_path / "validation.csv"
    path.write_text(",".join(COLUMNS) + "\n")
    os.truncate(path, 8 << 30)
    with pytest.raises(XncostError, match=r"8,589,934,592 bytes, more than"):
        read_rows(path)


def _row(writer: int, k: int) -> dict:
    return {
        "head": "fc",
        "backbone": "tiny",
        "dataset": "digits",
        "epochs": 1,
        "seed": writer * 1000 + k,
        "accuracy": "0.5",
        "params": 1,
        "head_flops": 1,
        "seconds": "1.0",
        "images_per_second": "1.0",
    }


def _append_many(out: str, writer: int) -> None:
    for k in range(ROWS_PER_WRITER):
        append_result(Path(out), _row(writer, k))


@pytest.mark.heavy
def test_two_writers_appending_at_once_lose_no_row(tmp_path):
    """The read of the rows and the publish happen under OUT's lock: every row survives."""
    ctx = multiprocessing.get_context("fork")
    writers = [ctx.Process(target=_append_many, args=(str(tmp_path), w)) for w in (1, 2)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(120)
    assert [p.exitcode for p in writers] == [0, 0]
    rows = read_rows(tmp_path / results.CSV_NAME)
    seeds = sorted(int(r["seed"]) for r in rows)
    assert seeds == sorted(w * 1000 + k for w in (1, 2) for k in range(ROWS_PER_WRITER))
    md = (tmp_path / results.MD_NAME).read_text()
    assert md.count("\n| fc |") == 2 * ROWS_PER_WRITER
    assert sorted(p.name for p in tmp_path.iterdir()) == [results.CSV_NAME, results.MD_NAME]
