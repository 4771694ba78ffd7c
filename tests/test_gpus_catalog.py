"""The accelerator catalog's figures agree with each other where physics ties them.

Each test checks a relation that holds for real hardware (a bandwidth is bus
width times data rate; an FP32 rate is cores times clock times two; tensor
formats on one architecture run at fixed ratios; a rack's figures are 72 GPUs'
worth) against published inputs that are NOT stored in the YAML, so a typo in
either the catalog or the datasheet transcription fails here.
"""

from __future__ import annotations

import re

import pytest

# Ids added for the GPUs in use in 2026, and a few aliases people type.
NEW_GPUS = (
    "b300 gb300 gb10 rtx-5080 rtx-5070-ti rtx-5060-ti-16gb rtx-4080-super rtx-4070-ti-super "
    "rtx-4060-ti-16gb rtx-3060-12gb rx-7900-xtx radeon-pro-w7900 radeon-ai-pro-r9700 "
    "apple-m4-pro apple-m4-max apple-m3-ultra rtx-pro-4500"
).split()
ALIASES = {
    "dgx-spark": "gb10",
    "gb300-nvl72": "gb300",
    "hgx-b300": "b300",
    "5080": "rtx-5080",
    "5060-ti": "rtx-5060-ti-16gb",
    "4080-super": "rtx-4080-super",
    "7900xtx": "rx-7900-xtx",
    "w7900": "radeon-pro-w7900",
    "r9700": "radeon-ai-pro-r9700",
    "m4-max": "apple-m4-max",
    "m3-ultra": "apple-m3-ultra",
}


def _close(actual: float, expected: float, rel: float) -> bool:
    return abs(actual - expected) <= rel * abs(expected)


def test_new_gpus_and_their_aliases_resolve(catalog):
    assert set(NEW_GPUS) <= set(catalog.gpus)
    for alias, gid in ALIASES.items():
        assert catalog.gpu(alias).id == gid, alias


# (id, bus width in bits, data rate in Gbps per pin, where both are published)
BUS_AND_RATE = [
    ("rtx-5060-ti-16gb", 128, 28, "nyongesasande.com / Tom's Hardware launch specs: GDDR7 28 Gbps, 128-bit"),
    ("rtx-4060-ti-16gb", 128, 18, "cputronic.com / Guru3D: GDDR6 18 Gbps, 128-bit"),
    ("rx-7900-xtx", 384, 20, "Tom's Hardware RX 7900 spec table: 20 Gbps, 384-bit"),
    ("radeon-ai-pro-r9700", 256, 20, "Navi 48 launch coverage (svethardware.cz): 20 Gbps GDDR6, 256-bit"),
    ("rtx-3090-ti", 384, 21, "tweaktown.com/news/84164: GDDR6X 21 Gbps on 384 bits"),
]


@pytest.mark.parametrize(("gid", "bits", "gbps", "source"), BUS_AND_RATE)
def test_bandwidth_is_bus_width_times_data_rate(catalog, gid, bits, gbps, source):
    """Peak GB/s = bits x Gbps / 8. Tolerance 0.5% (vendors round to whole GB/s)."""
    expected = bits * gbps / 8
    assert _close(catalog.gpu(gid).memory_bandwidth_gbs, expected, 0.005), (gid, expected, source)


# (id, shader cores, boost clock MHz, FP32 FLOP per core per clock, source)
# NVIDIA cores do one FMA (2 FLOP) per clock; RDNA 3 dual-issues (4 FLOP).
CORES_AND_CLOCK = [
    ("rtx-5080", 10752, 2617, 2, "RTX Blackwell whitepaper Appendix A (lamonoai/gpumap)"),
    ("rtx-5070-ti", 8960, 2452, 2, "RTX Blackwell whitepaper Appendix A (lamonoai/gpumap)"),
    ("rtx-5060-ti-16gb", 4608, 2572, 2, "prepmusiclog.com RTX 5060 Ti spec table"),
    ("rtx-5090", 21760, 2407, 2, "RTX Blackwell whitepaper Appendix A (lamonoai/gpumap)"),
    ("rtx-4080-super", 10240, 2550, 2, "public RTX 40-series spec sheet (NVIDIA figures)"),
    ("rtx-4070-ti-super", 8448, 2610, 2, "public RTX 40-series spec sheet (NVIDIA figures)"),
    ("rtx-4060-ti-16gb", 4352, 2535, 2, "Wccftech / Guru3D RTX 4060 Ti specs"),
    ("rtx-4090", 16384, 2520, 2, "NVIDIA RTX 4090 launch specs (incpak.com)"),
    ("rtx-3060-12gb", 3584, 1777, 2, "Guru3D table, RTX 3060 column"),
    ("rtx-pro-4500", 10496, 2617, 2, "technical.city RTX PRO 4500 Blackwell specs"),
    ("rx-7900-xtx", 6144, 2500, 4, "Tom's Hardware RX 7900 spec table (96 CUs, 2,500 MHz)"),
]


@pytest.mark.parametrize(("gid", "cores", "mhz", "per_clock", "source"), CORES_AND_CLOCK)
def test_fp32_is_cores_times_clock(catalog, gid, cores, mhz, per_clock, source):
    """FP32 TFLOP/s = cores x FLOP/clock x GHz / 1000. Tolerance 1% (published figures are rounded)."""
    expected = cores * per_clock * mhz / 1e6
    assert _close(catalog.gpu(gid).fp32_tflops, expected, 0.01), (gid, expected, source)


# Tensor rate of each format relative to BF16, per architecture, dense.
# GeForce Ada/Blackwell figures are the FP32-accumulate ones (RTX 4090 and 5090
# whitepaper columns); Ampere GA10x from the GA102 whitepaper; RDNA 3 from
# GPUOpen's WMMA table (FP16 = BF16 = IU8, IU4 = 2x); RDNA 4 from GPUOpen's
# RDNA 4 matrix-core table (FP8 = INT8 = 2x, INT4 = 4x).
RATIOS = {
    ("blackwell", "consumer"): {"fp16": 1, "tf32": 0.5, "fp8": 2, "int8": 4, "fp4": 8, "fp32": 0.5},
    ("ada", "consumer"): {"fp16": 1, "tf32": 0.5, "fp8": 2, "int8": 4, "int4": 8, "fp32": 0.5},
    ("ampere", "consumer"): {"fp16": 1, "tf32": 0.5, "int8": 4, "int4": 8, "fp32": 0.5},
    ("rdna3", None): {"fp16": 1, "int8": 1, "int4": 2, "fp32": 0.5},
    ("rdna4", None): {"fp16": 1, "fp8": 2, "int8": 2, "int4": 4, "fp32": 0.25},
}


def _ratio_rule(gpu):
    return RATIOS.get((gpu.family, gpu.segment)) or RATIOS.get((gpu.family, None))


def test_tensor_formats_run_at_their_architecture_ratios(catalog):
    """Every listed format sits at its architecture's ratio to BF16 (0.6%, rounding). FP32 is the vector rate."""
    checked = []
    for gpu in catalog.gpus.values():
        rule = _ratio_rule(gpu)
        if rule is None:
            continue
        bf16 = gpu.tensor_tflops.bf16
        assert bf16, gpu.id
        for fmt, ratio in rule.items():
            value = gpu.fp32_tflops if fmt == "fp32" else getattr(gpu.tensor_tflops, fmt)
            assert value is not None, (gpu.id, fmt)
            assert _close(value, ratio * bf16, 0.006), (gpu.id, fmt, value, ratio * bf16)
        checked.append(gpu.id)
    # the rule must reach the new consumer parts, not silently skip them
    assert {"rtx-5080", "rtx-4060-ti-16gb", "rtx-3060-12gb", "rx-7900-xtx", "radeon-ai-pro-r9700"} <= set(checked)


# Vendor headline figures, which are sparse (2:4) or whole-system numbers, and
# so independent of the dense per-GPU cells the catalog stores.
HEADLINES = [
    # (id, format, multiplier applied to the dense per-GPU cell, published figure, source)
    ("rtx-5080", "fp4", 2, 1801, "NVIDIA: 1,801 AI TOPS (FP4, sparse)"),
    ("rtx-5070-ti", "fp4", 2, 1406, "NVIDIA: 1,406 AI TOPS (FP4, sparse)"),
    ("rtx-5060-ti-16gb", "fp4", 2, 759, "NVIDIA: 759 AI TOPS (FP4, sparse)"),
    ("rtx-5090", "fp4", 2, 3352, "NVIDIA: 3,352 AI TOPS (FP4, sparse)"),
    ("rtx-4080-super", "int8", 2, 836, "NVIDIA: 836 AI TOPS (INT8/FP8, sparse)"),
    ("rtx-4070-ti-super", "int8", 2, 706, "NVIDIA: 706 AI TOPS (INT8/FP8, sparse)"),
    ("rtx-4060-ti-16gb", "int8", 2, 353, "NVIDIA / Wccftech: 353 Tensor TOPS (sparse)"),
    ("rtx-4090", "int8", 2, 1321, "NVIDIA: 1,321 AI TOPS (INT8/FP8, sparse)"),
    ("radeon-ai-pro-r9700", "int4", 2, 1531, "AMD: 1,531 TOPS INT4 with structured sparsity"),
    ("gb10", "fp4", 2, 1000, "NVIDIA DGX Spark: 1 PFLOP FP4 with sparsity"),
    ("gb300", "fp4", 72, 1_080_000, "NVIDIA GB300 NVL72 page: FP4 1,080 PFLOPS without sparsity per rack"),
    ("gb300", "fp8", 144, 720_000, "NVIDIA GB300 NVL72 page: FP8/FP6 720 PFLOPS (sparse) per rack"),
    ("gb300", "bf16", 144, 360_000, "NVIDIA GB300 NVL72 page: FP16/BF16 360 PFLOPS (sparse) per rack"),
    ("gb300", "tf32", 144, 180_000, "NVIDIA GB300 NVL72 page: TF32 180 PFLOPS (sparse) per rack"),
    ("b300", "fp8", 16, 72_000, "NVIDIA HGX page: HGX B300 FP8/FP6 72 PFLOPS (sparse) per 8 GPUs"),
    ("b300", "bf16", 16, 36_000, "NVIDIA HGX page: HGX B300 FP16/BF16 36 PFLOPS (sparse) per 8 GPUs"),
    ("b300", "fp32", 8, 600, "NVIDIA HGX page: HGX B300 FP32 600 TFLOPS per 8 GPUs"),
]


@pytest.mark.parametrize(("gid", "fmt", "times", "published", "source"), HEADLINES)
def test_dense_cells_reproduce_vendor_headlines(catalog, gid, fmt, times, published, source):
    """Dense cell x multiplier = the vendor's headline. Tolerance 0.5% (headlines are rounded)."""
    gpu = catalog.gpu(gid)
    value = gpu.fp32_tflops if fmt == "fp32" else getattr(gpu.tensor_tflops, fmt)
    assert _close(value * times, published, 0.005), (gid, fmt, value * times, published, source)


def test_gb300_rack_bandwidth_is_72_gpus(catalog):
    """NVIDIA GB300 NVL72 page: 'up to 576 TB/s' HBM bandwidth for 72 GPUs."""
    assert _close(catalog.gpu("gb300").memory_bandwidth_gbs * 72, 576_000, 0.005)


def _label_gib(label: str) -> float:
    match = re.match(r"\s*([\d.]+)\s*GB\b", label)
    assert match, label
    return float(match.group(1))


def test_unified_memory_parts_are_single_systems(catalog):
    """SoCs whose GPU shares the CPU's memory: unified class, one per node, no GPU-to-GPU link."""
    unified = {gid for gid, gpu in catalog.gpus.items() if gpu.memory_class == "unified"}
    assert {"gb10", "apple-m4-pro", "apple-m4-max", "apple-m3-ultra"} <= unified
    for gid in unified:
        gpu = catalog.gpu(gid)
        assert gpu.gpus_per_node == 1, gid
        assert gpu.interconnect_gbs is None, gid
        assert gpu.memory_total_gib < _label_gib(gpu.memory_label), gid  # the OS keeps a share
    # Apple parts all state the same default GPU limit (75% of RAM, Metal's
    # recommendedMaxWorkingSetSize): one rule, not per-entry guesses.
    for gid in unified:
        gpu = catalog.gpu(gid)
        if gpu.vendor == "Apple":
            assert _close(gpu.memory_total_gib, 0.75 * _label_gib(gpu.memory_label), 0.001), gid


def test_driver_memory_never_exceeds_the_label(catalog):
    """Labels count binary units (memory_label_unit GiB): nothing reports more than it sells."""
    for gpu in catalog.gpus.values():
        if gpu.memory_label_unit == "GiB":
            assert gpu.memory_total_gib <= _label_gib(gpu.memory_label) + 0.01, gpu.id


def test_geforce_cards_report_their_whole_label(catalog):
    """GeForce boards have no ECC, so the driver keeps under 1% of the label (RTX 5080: 16303 of 16384 MiB)."""
    geforce = [g for g in catalog.gpus.values() if g.vendor == "NVIDIA" and g.segment == "consumer"]
    assert len(geforce) >= 10
    for gpu in geforce:
        assert gpu.memory_total_gib >= 0.99 * _label_gib(gpu.memory_label), gpu.id


# NVIDIA entries that predate the compute_capability field; they gain it all
# together in one change, so until then none has it (checked below).
LEGACY_NVIDIA = frozenset(
    "h100-sxm h100-pcie h100-nvl h200-sxm h200-nvl b200 gb200 gh200 h20 a100-sxm-80gb a100-sxm-40gb "
    "a100-pcie-80gb l40s l40 l4 a10 a10g a30 a40 t4 v100-sxm-32gb v100-sxm-16gb rtx-4090 rtx-3090 "
    "rtx-3090-ti rtx-5090 rtx-6000-ada rtx-a6000 rtx-pro-6000".split()
)


def test_every_nvidia_gpu_has_a_compute_capability(catalog):
    nvidia = {gid: gpu for gid, gpu in catalog.gpus.items() if gpu.vendor == "NVIDIA"}
    legacy_done = any(nvidia[gid].compute_capability for gid in LEGACY_NVIDIA if gid in nvidia)
    for gid, gpu in nvidia.items():
        if gid in LEGACY_NVIDIA and not legacy_done:
            continue
        assert gpu.compute_capability, gid
        assert "compute_capability" in gpu.sources, gid
    for gpu in catalog.gpus.values():
        if gpu.vendor != "NVIDIA":
            assert gpu.compute_capability is None, gpu.id


# Compute capability by generation (developer.nvidia.com/cuda-gpus): datacenter
# Blackwell is 10.x (B200 10.0, B300/GB300 10.3), RTX Blackwell 12.0, GB10 12.1.
CC_BY_FAMILY = {
    "volta": {"7.0"},
    "turing": {"7.5"},
    "ampere": {"8.0", "8.6"},
    "ada": {"8.9"},
    "hopper": {"9.0"},
}


def test_compute_capability_matches_the_generation(catalog):
    for gpu in catalog.gpus.values():
        cc = gpu.compute_capability
        if cc is None:
            continue
        if gpu.family == "blackwell":
            major = cc.split(".")[0]
            # datacenter Blackwell (tcgen05) is 10.x; RTX and GB10 Blackwell are 12.x
            assert major == ("10" if gpu.segment == "datacenter" else "12"), (gpu.id, cc)
        else:
            assert cc in CC_BY_FAMILY[gpu.family], (gpu.id, cc)
    assert catalog.gpu("b300").compute_capability == catalog.gpu("gb300").compute_capability == "10.3"
    assert catalog.gpu("gb10").compute_capability == "12.1"
