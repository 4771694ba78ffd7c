"""`planner validate` on hostile input: what is not a regular file within the
size limit is refused before it is read, and a bad row is skipped with a
numbered reason, never an internal error or a NaN in the report."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import run_cli
from planner.core.errors import InputError
from planner.model import validation
from planner.model.validation import read_rows

HEADER = ("framework,model,gpu,n_gpus,tp,pp,weight_precision,kv_precision,"
          "batch_size,input_len,output_len,metric,value,unit")
GOOD = "vLLM,Llama-2-7B,H100 SXM 80GB,1,1,1,BF16,BF16,1,128,128,tpot_ms,7,ms"


def _row(**fields: str) -> str:
    values = dict(zip(HEADER.split(","), GOOD.split(",")))
    values.update(fields)
    return ",".join(values.values())


# --- what is read ---------------------------------------------------------------------


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    result = run_cli("validate", str(fifo))
    assert (result.exit_code, result.stderr) == (2, f"planner: error: {fifo}: not a regular file (give a CSV file)\n")


def test_dev_zero_is_refused_fast():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    started = time.monotonic()
    result = run_cli("validate", "/dev/zero")
    assert result.exit_code == 2 and "not a regular file" in result.stderr
    assert time.monotonic() - started < 5


def test_a_directory_is_refused(tmp_path):
    result = run_cli("validate", str(tmp_path))
    assert result.exit_code == 2 and "not a regular file" in result.stderr


def test_a_file_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(validation, "MAX_CSV_BYTES", 100)
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "\n" + GOOD + "\n")
    with pytest.raises(InputError, match="over the 100-byte limit"):
        read_rows(path)


def test_a_file_growing_after_the_size_check_is_read_no_further_than_the_limit(tmp_path, monkeypatch):
    """fstat says small, the file says more: at most limit + 1 bytes are read."""
    path = tmp_path / "growing.csv"
    path.write_text(HEADER + "\n" + GOOD * 50 + "\n")
    real_fstat = os.fstat

    class Small:
        def __init__(self, info):
            self.st_mode, self.st_size = info.st_mode, 10

    monkeypatch.setattr(validation.os, "fstat", lambda fd: Small(real_fstat(fd)))
    monkeypatch.setattr(validation, "MAX_CSV_BYTES", 200)
    reads = []
    real_read = os.read
    monkeypatch.setattr(validation.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(InputError, match="over the 200-byte limit"):
        read_rows(path)
    assert sum(reads) <= 201


# --- hostile rows ------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "reason"), [
    ("vLLM,Llama-2-7B,H100", "row has 3 fields, the header 14"),
    (GOOD + ",extra", "row has 15 fields, the header 14"),
    ('"' + GOOD, "row has 1 fields, the header 14"),
    (_row(model="Llama\0-2-7B"), "row holds a NUL byte"),
    (_row(value="0"), "value '0' is not a finite positive number"),
    (_row(value="nan"), "value 'nan' is not a finite positive number"),
    (_row(value="-1"), "value '-1' is not a finite positive number"),
    (_row(value="inf"), "value 'inf' is not a finite positive number"),
    (_row(value="1e308"), "value '1e308' is not a finite positive number"),
    (_row(value="fast"), "value 'fast' is not a number"),
    (_row(n_gpus="1e308"), "n_gpus '1e308' is not a whole number from 1 to 65,536"),
    (_row(n_gpus="inf"), "n_gpus 'inf' is not a whole number"),
    (_row(tp="0"), "tp '0' is not a whole number from 1"),
    (_row(batch_size="inf"), "batch_size 'inf' is not a whole number"),
    (_row(batch_size="1e308"), "batch_size '1e308' is not a whole number"),
    (_row(batch_size="2.5"), "batch_size '2.5' is not a whole number"),
    (_row(input_len="-5"), "input_len '-5' is not a whole number from 0"),
    (_row(output_len="nan"), "output_len 'nan' is not a whole number"),
])
def test_a_hostile_row_is_skipped_with_its_numbered_reason(tmp_path, line, reason):
    path = tmp_path / "rows.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n{line}\n")
    result = run_cli("validate", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout, parse_constant=_refuse)["rows"]
    assert [r["row"] for r in rows] == [2, 3]
    assert rows[0]["skipped"] is None and rows[0]["predicted"] > 0
    assert rows[1]["skipped"].startswith(reason) and "\n" not in rows[1]["skipped"]
    table = run_cli("validate", str(path))
    assert table.exit_code == 0 and "NaN" not in table.stdout and "nan" not in table.stdout.lower().split()


def test_a_file_of_only_bad_rows_still_reports(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(f"{HEADER}\n{_row(value='0')}\n")
    result = run_cli("validate", str(path), "--format", "json")
    data = json.loads(result.stdout, parse_constant=_refuse)
    assert result.exit_code == 0 and data["summary"] == [] and data["rows"][0]["skipped"]


def _refuse(constant: str):
    raise AssertionError(f"JSON carries {constant}")
