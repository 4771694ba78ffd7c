"""`planner validate` on the published measurements shipped in benchmarks/data.

Targets (issue: the performance model): median absolute percentage error at
most 15% for batch-1 decode speed, 25% for TTFT and throughput, 10% for
memory, on benchmarks/data/measured.csv (a copy of the shared validation set;
sources per row in its `source` column).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT
from planner.model.validation import map_engine, map_gpu, map_precision, read_rows, validate

DATA = ROOT / "benchmarks" / "data" / "measured.csv"


@pytest.fixture(scope="module")
def report(catalog):
    return validate(catalog, read_rows(DATA))


def test_every_row_answered_or_skipped_with_reason(report):
    assert len(report.outcomes) == len(read_rows(DATA))
    for o in report.outcomes:
        assert (o.predicted is not None) != bool(o.skipped)


@pytest.mark.parametrize("group, target", [("decode", 0.15), ("ttft", 0.25), ("throughput", 0.25), ("memory", 0.10)])
def test_accuracy_targets(report, group, target):
    summary = {s.group: s for s in report.summaries()}
    assert summary[group].n >= 5
    assert summary[group].median_ape <= target, f"{group}: {summary[group].median_ape:.1%} > {target:.0%}"


def test_batch_1_decode_rows_are_decode_group(report):
    decode = [o for o in report.answered if o.metric == "decode_tokens_per_s_per_user"]
    assert len(decode) >= 15


@pytest.mark.parametrize("text, gpu", [
    ("H100 SXM 80GB", "h100-sxm"),
    ("A100 80GB (SXM assumed)", "a100-sxm-80gb"),
    ("A100 PCIe 80GB", "a100-pcie-80gb"),
    ("A100 SXM 40GB", "a100-sxm-40gb"),
    ("Apple M2 Ultra (76-core GPU, 192GB unified)", "apple-m2-ultra"),
    ("RTX 3090 Ti 24GB", "rtx-3090-ti"),
    ("H200 SXM 141GB", "h200-sxm"),
])
def test_gpu_names_map(catalog, text, gpu):
    assert map_gpu(catalog, text) == gpu


@pytest.mark.parametrize("text, precision", [
    ("FP16 (GGUF F16)", "fp16"), ("Q4_K_M (~4.8 bits/weight, llama.cpp k-quant)", "q4_k_m"),
    ("GPTQ-Int4", "int4"), ("AWQ (INT4)", "int4"), ("INT8 (INT8 PTQ, mixed with FP16)", "int8"), ("BF16", "bf16"),
])
def test_precision_names_map(catalog, text, precision):
    assert map_precision(catalog, text) == precision


def test_engine_names_map():
    assert map_engine("TensorRT-LLM v0.14.0 (trtllm-bench)") == "trtllm"
    assert map_engine("TensorRT 8.4.3 demoBERT") == "tensorrt"
    assert map_engine("llama.cpp (llama-bench)") == "llama.cpp"
    assert map_engine("MyServe 1.0") is None


def test_unmappable_rows_are_skipped_with_reason(cli, tmp_path):
    path = tmp_path / "rows.csv"
    header = ",".join(["framework", "model", "gpu", "n_gpus", "tp", "pp", "weight_precision", "kv_precision",
                       "batch_size", "input_len", "output_len", "metric", "value", "unit"])
    path.write_text(header + "\n"
                    "vLLM,Falcon-180B,H100 SXM 80GB,8,8,1,BF16,BF16,1,128,128,tpot_ms,30,ms\n"
                    "vLLM,Llama-2-7B,TPU v9,1,1,1,BF16,BF16,1,128,128,tpot_ms,30,ms\n"
                    "vLLM,Llama-2-7B,H100 SXM 80GB,1,1,1,BF16,BF16,1,128,128,tpot_ms,7,ms\n")
    result = cli("validate", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert "not in the catalog" in rows[0]["skipped"] and "Falcon" in rows[0]["skipped"]
    assert "TPU v9" in rows[1]["skipped"]
    assert rows[2]["skipped"] is None and rows[2]["predicted"] > 0


def test_validate_rejects_a_file_without_the_columns(cli, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    result = cli("validate", str(path))
    assert result.exit_code == 2 and "missing column" in result.stderr


def test_fitted_factors_are_reproducible():
    """catalog/engines-fitted.yaml is exactly what benchmarks/fit_efficiency.py fits from the data."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fit_efficiency.py"), "--check"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
