"""Reading OUT/validation.csv: any damaged file is one error line naming it."""

import csv

import pytest

from xncost.errors import XncostError
from xncost.train.results import COLUMNS, read_rows


@pytest.mark.parametrize(
    "body",
    [
        "a" * (csv.field_size_limit() + 1) + "\n",  # beyond the csv module's field limit
        '"unterminated\n',
        "fc,1\n",
    ],
)
def test_a_damaged_validation_csv_is_one_error_naming_it(tmp_path, body):
    path = tmp_path / "validation.csv"
    path.write_text(",".join(COLUMNS) + "\n" + body, encoding="utf-8")
    with pytest.raises(XncostError) as info:
        read_rows(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 300
