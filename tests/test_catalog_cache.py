"""load_catalog caches per file (path, modification time, size) and hands
out catalogs that cannot corrupt the cache."""

from __future__ import annotations

import os

import pytest

from planner.catalog.load import load_catalog
from planner.core.errors import CatalogError


def _overlay(path, bandwidth: int, mtime_ns: int) -> None:
    path.write_text(f"gpus:\n  - id: h100-sxm\n    memory_bandwidth_gbs: {bandwidth}\n")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_an_edited_overlay_is_read_again(tmp_path):
    path = tmp_path / "prices.yaml"
    _overlay(path, 1000, 1_700_000_000_000_000_000)
    assert load_catalog([path]).gpu("h100-sxm").memory_bandwidth_gbs == 1000
    _overlay(path, 2000, 1_700_000_001_000_000_000)  # same size, later mtime
    assert load_catalog([path]).gpu("h100-sxm").memory_bandwidth_gbs == 2000


def test_changing_a_returned_catalog_leaves_the_next_one_whole():
    first = load_catalog()
    gpu_ids = sorted(first.gpus)
    first.gpus.clear()
    first.models["scratch"] = first.models.pop("llama-2-7b")
    first.files.append("scratch.yaml")
    second = load_catalog()
    assert sorted(second.gpus) == gpu_ids
    assert "llama-2-7b" in second.models and "scratch" not in second.models
    assert "scratch.yaml" not in second.files


def test_entries_are_frozen():
    with pytest.raises(Exception):
        load_catalog().gpu("h100-sxm").memory_bandwidth_gbs = 1  # type: ignore[misc]


def test_a_broken_overlay_fails_every_time(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("gpus:\n  - id: h100-sxm\n    tdp_w: -1\n")
    for _ in range(2):
        with pytest.raises(CatalogError):
            load_catalog([path])


def test_overlays_in_another_order_are_another_catalog(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    _overlay(a, 1000, 1_700_000_000_000_000_000)
    _overlay(b, 2000, 1_700_000_000_000_000_000)
    assert load_catalog([a, b]).gpu("h100-sxm").memory_bandwidth_gbs == 2000
    assert load_catalog([b, a]).gpu("h100-sxm").memory_bandwidth_gbs == 1000
