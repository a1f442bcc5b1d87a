"""The system-level cycle-approximate model of a PAM node, its baselines and ablations.

Inputs, and nothing else:

* ``perf/configs/calibration.json`` (``pam calibrate``): PU cycles per token of
  one kv head for each tier and GQA group, and RU cycles per merged partial,
  measured on the RTL, and the KV's float format (its width sets the KV bytes);
* ``perf/configs/system.toml``: the platform (Table 1 counts, GPU data sheet),
  links and energies, each with its source;
* ``perf/configs/models.toml``: the models' shapes;
* the host scheduler (``perf/host_profile.py``): where the activated tokens sit,
  and the tokens moved per step.

**A decode step** of a batch is modelled in the throughput view of the
paper's TP 4 × PP 2 platform: every resource of the node (8 GPUs, every bank
of every tier) works on the step, layer after layer, so

    step = Σ_layers combine(dense, attention) + LM head

* dense (per layer): the GPU roofline, max(FLOPs / (8·F·e_c), 2·weights /
  (8·BW·e_m)) (each pipeline stage reads its layers' weights once per
  micro-batch, two micro-batches), plus two tensor-parallel all-reduces,
  each a latency and a ring's 2·(p−1)/p of the micro-batch's activations
  over NVLink;
* attention on a PIM tier (per layer): the tier's activated token-heads spread
  over its banks, times the measured cycles per token, times the bank-group
  imbalance the mapping leaves; the RUs' work if it is larger; the tree's tail
  (one merge per level); the per-layer synchronisation of ``sync_us``; for
  DDR and SSD, q down and the partials (m, ℓ, O in FP32) up over their links.
  Tiers run in parallel, so attention = the slowest tier;
* combine: PIM systems overlap dense and attention over two sub-batches,
  g/2 + max(g, a)/2 + a/2. The GPU baseline computes attention on the GPU
  after the dense work, g + a, and overlaps the PCIe fetch of the offloaded
  KV with both (the next layer's KV streams in while this layer computes);
* a sparse system's token selection: each tier's PUs scan the label channels
  (``sparsity.label_fraction`` of K's channels) of the tokens whose labels it
  holds, the labels filling the fastest tiers first;
* each PIM tier computes at most its per-device power cap
  (``power_cap_tflops``), whatever its banks' calibrated rate;
* the step is the longest of the resources it keeps busy: the pipeline
  above; the GPUs' PCIe links (DDR's and SSD's q and partials, HBM<->DDR
  migrations, new tokens below HBM); the SSDs' NVMe links; the SSD dies
  (attention, migration page reads and flash programs, one after another);
  the host scheduler (PAM, its ablations).

**Presets** (``perf/configs/presets/``) set what the configs leave open:
``paper`` reads the baseline as the paper's figures imply (vLLM keeps the
whole KV cache in host DDR), ``physical`` as vLLM does by design (KV in HBM,
the overflow in DDR). A preset may also override any figure of
``system.toml``.

**Energy** per step: GPU FLOPs and weight reads, every KV byte read (in the
bank for PIM: ``pim_op_factor`` × a bank read; over the I/O for the GPU),
bytes over PCIe, and static power × step time.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from importlib import resources

from golden.formats import FP32, format_by_name
from golden.validate import check_number
from host.migration import load_migration_config
from host.scheduler import derive_ratios
from hw.tierconfig import MemoryTier
from perf.calibration import load_calibration
from perf.host_profile import host_profile, mapping_balance

__all__ = ["Model", "Tier", "Node", "PRESETS", "SYSTEMS", "StepResult", "default_node", "flash_program_bandwidth",
           "flash_read_bandwidth", "flash_write_dwpd", "load_models", "load_node", "load_system_config",
           "prompt_write_s", "scaled_down_attention_cycles", "step", "stored_bytes_per_token", "vllm_kv_tiers"]

_EVERY_TIER = tuple(tier.key for tier in MemoryTier)      # the keys of Node.tiers, fastest first
PARTIAL_BYTES = FP32.bytes          # m, l and O leave a tier in the FP32 accumulation format (docs/numerics.md)
PRESETS = ("paper", "physical")
VLLM_KV_HOMES = ("host", "hbm")
FRACTIONS = ("efficiency", "budget", "lambda", "fraction")      # figures of system.toml that are shares of a whole


@dataclasses.dataclass(frozen=True)
class Model:
    key: str
    name: str
    layers: int
    hidden: int
    q_heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    ffn_kind: str
    vocab: int

    @property
    def group(self) -> int:
        return self.q_heads // self.kv_heads

    @property
    def layer_params(self) -> int:
        attention = self.hidden * self.head_dim * (2 * self.q_heads + 2 * self.kv_heads)
        return attention + (3 if self.ffn_kind == "swiglu" else 2) * self.hidden * self.ffn

    @property
    def weight_bytes(self) -> int:
        return 2 * (self.layers * self.layer_params + 2 * self.vocab * self.hidden)


def load_models() -> dict[str, Model]:
    doc = tomllib.loads(resources.files("perf").joinpath("configs", "models.toml").read_text())
    models = {}
    for key, table in doc.items():
        model = Model(key, **table)
        if model.q_heads % model.kv_heads or model.ffn_kind not in ("swiglu", "mlp"):
            raise ValueError(f"models.toml [{key}]: q_heads must be a multiple of kv_heads and ffn_kind "
                             f"swiglu or mlp, not {model.q_heads}/{model.kv_heads}, {model.ffn_kind!r}")
        models[key] = model
    return models


@dataclasses.dataclass(frozen=True)
class Tier:
    name: str
    devices: int
    banks: int                    # PUs in the whole tier
    rus: int
    capacity_bytes: float
    clock_hz: float
    cycles_per_token: dict        # GQA group -> measured PU cycles per token of one kv head
    fixed_cycles: dict            # GQA group -> measured cycles of a PU run beyond its tokens (q load, drain)
    ru_cycles_per_partial: float
    sync_s: float
    head_dim: int = 128
    power_cap_flops: float = 0.0  # attention FLOPs per second one device may compute at once (0: no cap)

    def token_cycles(self, group: int) -> float:
        """The calibrated PU cycles per token of one kv head: one bank's rate, alone."""
        try:
            return self.cycles_per_token[group]
        except KeyError:
            raise ValueError(f"no calibration for tier {self.name} at GQA group {group}: run pam calibrate "
                             f"--groups {group} (have {sorted(self.cycles_per_token)})") from None

    def power_cycles(self, group: int) -> float:
        """Cycles per token per bank that the device's power cap allows when every bank computes: a token of a
        kv head costs 4·head_dim·group FLOPs; 0 without a cap."""
        if not self.power_cap_flops:
            return 0.0
        return self.banks / self.devices * self.clock_hz * 4 * self.head_dim * group / self.power_cap_flops

    def cycles(self, group: int) -> float:
        """Cycles per token per bank with every bank of the tier computing: the calibrated rate or the power
        cap's, whichever is slower."""
        return max(self.token_cycles(group), self.power_cycles(group))

    def throughput(self, group: int, capped: bool = True) -> float:
        """Token-kv-heads per second over the whole tier (``capped``: under the power cap)."""
        return self.banks * self.clock_hz / (self.cycles(group) if capped else self.token_cycles(group))

    def device_flops(self, group: int, capped: bool = True) -> float:
        """Attention FLOPs per second of one device: each token of a kv head costs 4·head_dim FLOPs (q·k and
        p·v) for each of the group's query heads; ``capped`` under the power cap, else the lone banks' rate."""
        return self.throughput(group, capped) / self.devices * 4 * self.head_dim * group


@dataclasses.dataclass(frozen=True)
class Node:
    tiers: dict                   # name -> Tier
    gpu: dict
    platform: dict
    energy: dict
    links: dict
    sparsity: dict
    head_dim: int
    host: dict
    serving: dict
    vllm: dict
    preset: str
    kv_bytes: int                 # bytes of one K or V value, in the calibration's format
    flash: dict                   # the SSD tier's page_kb, program_us and rated_dwpd

    def kv_bytes_per_token(self, model: Model) -> int:
        """Bytes of KV one token of ``model`` takes: K and V of every layer and kv head."""
        return 2 * model.layers * model.kv_heads * model.head_dim * self.kv_bytes

    def kv_capacity(self, tier: str, model: Model) -> float:
        """Bytes of KV a tier can hold (HBM: after the weights and the activation reserve)."""
        cap = self.tiers[tier].capacity_bytes
        if tier == "hbm":
            cap -= model.weight_bytes + self.platform["activation_reserve_gb"] * 1e9
        return max(cap, 0.0)


def _read_config(*parts) -> dict:
    return tomllib.loads(resources.files("perf").joinpath("configs", *parts).read_text())


def _flatten(table: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} as {"a.b": 1}."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_system_config(preset: str = "physical", overrides: dict | None = None) -> dict:
    """``system.toml`` with the preset's fields over it, then ``overrides`` ({"section.key": value} or
    {"tiers.ddr.sync_us": value}, the sensitivity sweep's). Every overridden key must exist; a preset adds only
    its own [vllm] section."""
    if preset not in PRESETS:
        raise ValueError(f"--preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = _read_config("system.toml")
    layer = _read_config("presets", f"{preset}.toml")
    vllm = layer.pop("vllm", None)
    if not isinstance(vllm, dict) or vllm.get("kv_home") not in VLLM_KV_HOMES:
        raise ValueError(f"preset {preset}: [vllm] kv_home must be one of {', '.join(VLLM_KV_HOMES)}, "
                         f"not {None if vllm is None else vllm.get('kv_home')!r}")
    config["vllm"] = vllm
    for name, value in {**_flatten(layer), **(overrides or {})}.items():
        *path, key = name.split(".")
        table = config
        for part in path:
            table = table.get(part) if isinstance(table, dict) else None
        if not path or not isinstance(table, dict) or key not in table or isinstance(table[key], dict):
            raise ValueError(f"{name}: not a figure of perf/configs/system.toml (sections: {', '.join(config)})")
        if type(value) is not type(table[key]) and not (isinstance(table[key], float) and isinstance(value, int)):
            raise ValueError(f"{name}: {value!r} is not a {type(table[key]).__name__} like {table[key]!r}")
        table[key] = value
    shipped = _flatten(_read_config("system.toml"))
    for name, value in _flatten(config).items():          # every figure finite, none negative, none zeroed
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            fraction = name.endswith(FRACTIONS)
            check_number(value, name, least=0, above=0 if shipped.get(name, 0) > 0 else None,
                         most=1 if fraction else None)
    return config


def load_node(calibration=None, preset: str = "physical", overrides: dict | None = None) -> Node:
    """The node from ``perf/configs/system.toml`` under ``preset`` (and ``overrides``), the host's links
    (``host/configs/migration.toml``; override them as ``links.hbm_ddr`` etc.) and the calibration file
    (``calibration``: a path, a dict or None)."""
    overrides = dict(overrides or {})
    link_overrides = {k: overrides.pop(k) for k in list(overrides) if k.startswith("links.")}
    config = load_system_config(preset, overrides)
    links = load_migration_config()["links"]
    for name, value in link_overrides.items():       # links.hbm_ddr = bandwidth in GB/s
        key = name.removeprefix("links.")
        if key not in links:
            raise ValueError(f"{name}: no such link (have {', '.join('links.' + k for k in links)})")
        check_number(value, name, above=0)
        links = {**links, key: {**links[key], "bandwidth_gb_s": float(value)}}
    cal = calibration if isinstance(calibration, dict) else load_calibration(calibration)
    tiers = {}
    for name in _EVERY_TIER:
        t = config["tiers"][name]
        pus = [e for e in cal["pu"] if e["tier"] == t["config"]]
        rus = [e for e in cal["ru"] if e["tier"] == t["config"]]
        if not pus or not rus:
            raise ValueError(f"calibration has no PU or RU entry for tier {t['config']}: run pam calibrate")
        tiers[name] = Tier(name, t["devices"], t["devices"] * t["banks_per_device"], t["devices"] * t["rus_per_device"],
                           t["devices"] * t["device_gb"] * 1e9, pus[0]["clock_mhz"] * 1e6,
                           {e["group"]: e["cycles_per_token"] for e in pus},
                           {e["group"]: e["fixed_cycles"] for e in pus}, rus[0]["cycles_per_partial"],
                           t["sync_us"] * 1e-6, cal["head_dim"], t["power_cap_tflops"] * 1e12)
    return Node(tiers, config["gpu"], config["platform"], config["energy"], links, config["sparsity"],
                cal["head_dim"], config["host"], config["serving"], config["vllm"], preset,
                format_by_name(cal["format"]).bytes,
                {k: config["tiers"]["ssd"][k] for k in ("page_kb", "program_us", "rated_dwpd")})


@dataclasses.dataclass(frozen=True)
class StepResult:
    system: str
    batch: int
    context: float
    fits: bool
    step_s: float = 0.0
    dense_s: float = 0.0
    attention_s: float = 0.0
    tier_s: tuple = (0.0, 0.0, 0.0)       # attention per layer on HBM, DDR, SSD (GPU baseline: HBM, PCIe, -)
    tokens_share: tuple = (0.0, 0.0, 0.0)
    moved_per_step: float = 0.0
    energy_j: dict = dataclasses.field(default_factory=dict)
    why: str = ""
    host_s: float = 0.0                   # the host scheduler's time for the step (overlapped with it)
    migration_s: float = 0.0              # the step's background migrations over PCIe and NVMe (overlapped with it)
    busy_s: dict = dataclasses.field(default_factory=dict)   # resource -> its busy time in the step (step >= each)
    flash_write_bytes: float = 0.0        # bytes programmed into flash in the step (migrations down, new tokens)

    @property
    def throughput(self) -> float:
        return self.batch / self.step_s if self.fits and self.step_s else 0.0

    @property
    def energy_per_token_j(self) -> float:
        return sum(self.energy_j.values()) / self.batch if self.fits else 0.0


# -- the parts of a step ----------------------------------------------------------

def gpu_bandwidth(node: Node) -> float:
    """Bytes per second all GPUs stream from their HBM, at the achieved fraction of peak."""
    g = node.gpu
    return node.platform["gpus"] * g["hbm_tb_s"] * 1e12 * g["memory_efficiency"]


def gpu_roofline_s(node: Node, flops: float, hbm_bytes: float) -> float:
    """Time of GPU work over all GPUs: the slower of its FLOPs and its HBM bytes."""
    g = node.gpu
    compute = flops / (node.platform["gpus"] * g["fp16_tflops"] * 1e12 * g["compute_efficiency"])
    return max(compute, hbm_bytes / gpu_bandwidth(node))


def allreduce_s(node: Node, model: Model, batch: int) -> float:
    """One tensor-parallel all-reduce of a micro-batch's activations (batch/2 rows of 16-bit ``hidden``): its
    latency plus a ring's 2·(p−1)/p of the message over one GPU's NVLink."""
    p = node.platform["tensor_parallel"]
    message = batch / 2 * model.hidden * 2
    return node.gpu["allreduce_us"] * 1e-6 + 2 * (p - 1) / p * message / (node.gpu["nvlink_gb_s"] * 1e9)


def dense_layer_s(node: Node, model: Model, batch: int) -> float:
    """One layer's dense work; its weights (2 bytes each) are read once per micro-batch, two micro-batches, each
    with two all-reduces (the two pipeline stages work on one micro-batch each at a time)."""
    return (gpu_roofline_s(node, 2 * batch * model.layer_params, 2 * model.layer_params * 2)
            + 2 * allreduce_s(node, model, batch))


def head_s(node: Node, model: Model, batch: int) -> float:
    """The LM head (and embedding) once per step."""
    return gpu_roofline_s(node, 2 * batch * model.vocab * model.hidden, 2 * model.vocab * model.hidden)


def pim_tier_layer_s(tier: Tier, model: Model, batch: int, tokens: float, imbalance: float, scanned: float = 0.0,
                     scan_cost: float = 0.0) -> float:
    """Attention of one layer on one tier: ``tokens`` activated tokens per request on this tier, after the
    token selection's scan of ``scanned`` tokens per request, each at ``scan_cost`` of a token's cycles."""
    if tokens <= 0 and scanned <= 0:
        return 0.0
    streams = batch * model.kv_heads                                            # (request, kv head) pairs
    work = streams * (tokens + scanned * scan_cost)                             # token-kv-heads
    runs = max(1.0, streams / tier.banks)            # PU runs per bank, each with its fixed cost
    pu = (max(work / tier.banks, 1.0) * imbalance * tier.cycles(model.group)
          + runs * max(0.0, tier.fixed_cycles.get(model.group, 0.0)))
    spread = max(1.0, tier.banks / streams)          # banks one stream's tokens are spread over
    partials = streams * min(tokens, spread)         # one partial of G heads per (bank, stream)
    ru = partials * model.group * tier.ru_cycles_per_partial / tier.rus
    levels = 3                                                                 # bank group, device, inter-device
    tail = levels * model.group * tier.ru_cycles_per_partial
    return (max(pu, ru) + tail) / tier.clock_hz + tier.sync_s


def link_bandwidth(node: Node, route: str) -> float:
    """Bytes per second over every link of a route: ``hbm_ddr`` is one PCIe link per GPU, ``ddr_ssd`` one NVMe
    link per SSD."""
    count = node.platform["gpus"] if route == "hbm_ddr" else node.tiers["ssd"].devices
    return count * node.links[route]["bandwidth_gb_s"] * 1e9


def exchange_bytes(node: Node, model: Model, batch: int) -> float:
    """Bytes a tier exchanges with the GPU per layer for PAMattention: q of every query head down (in the KV's
    format), the partial (m, l, O) of every query head up (FP32)."""
    return batch * model.q_heads * (model.head_dim * node.kv_bytes + (model.head_dim + 2) * PARTIAL_BYTES)


def exchange_s(node: Node, model: Model, batch: int, tier: str) -> float:
    """Time per layer of a tier's q and partials: DDR over PCIe; SSD over NVMe, then PCIe."""
    data = exchange_bytes(node, model, batch)
    time = data / link_bandwidth(node, "hbm_ddr")
    return time + data / link_bandwidth(node, "ddr_ssd") if tier == "ssd" else time


def host_scheduler_s(node: Node, batch: int, scored: float, moved: float) -> float:
    """The host's Eq. 7 and Algorithm 2 for one step: ``scored`` and ``moved`` tokens per request, at the
    measured cost per token, split over the scheduler's threads."""
    h = node.host
    return batch * (scored + moved) * h["scheduler_us_per_token"] * 1e-6 / h["scheduler_threads"]


def stored_bytes_per_token(node: Node, model: Model, sparse: bool) -> float:
    """Bytes a token takes in the tiers: its KV, and for a sparse system the label channels of its K (the
    token selection's ``sparsity.label_fraction`` of the K channels; :func:`label_placement` puts them)."""
    kv = node.kv_bytes_per_token(model)
    return kv * (1 + node.sparsity["label_fraction"] / 2) if sparse else kv


def flash_read_bandwidth(node: Node) -> float:
    """Bytes per second the SSD tier's dies deliver: the calibrated flash-bound rate at G = 1 (a token of a kv
    head is 2·head_dim values), every die of every SSD reading."""
    ssd = node.tiers["ssd"]
    return ssd.throughput(1, capped=False) * 2 * ssd.head_dim * node.kv_bytes


def flash_program_bandwidth(node: Node) -> float:
    """Bytes per second the SSD tier's dies can program: one page per die per ``program_us``."""
    return node.tiers["ssd"].banks * node.flash["page_kb"] * 1024 / (node.flash["program_us"] * 1e-6)


def flash_write_dwpd(node: Node, bytes_per_s: float) -> float:
    """Drive writes per day of the SSD tier at ``bytes_per_s`` of flash writes."""
    return bytes_per_s * 86400 / node.tiers["ssd"].capacity_bytes


def prompt_write_s(node: Node, model: Model, shares: tuple, tokens: float) -> tuple[float, float]:
    """Writing ``tokens`` prompt tokens' KV, made on the GPU, into the tiers by ``shares`` (HBM, DDR, SSD): DDR's
    and SSD's share over PCIe, SSD's over NVMe and into flash, all pipelined. Returns (seconds, flash bytes)."""
    kv = tokens * node.kv_bytes_per_token(model)
    flash = shares[2] * kv
    seconds = max((shares[1] + shares[2]) * kv / link_bandwidth(node, "hbm_ddr"),
                  flash / link_bandwidth(node, "ddr_ssd"), flash / flash_program_bandwidth(node))
    return seconds, flash


def combine_overlapped(dense: float, attention: float) -> float:
    """Two sub-batches: the GPU's dense work of one overlaps the PIM attention of the other."""
    return dense / 2 + max(dense, attention) / 2 + attention / 2


# -- the systems ------------------------------------------------------------------

def _fill(node: Node, model: Model, need: float, tiers: tuple, used: tuple = (0.0, 0.0, 0.0)) -> tuple | None:
    """``need`` bytes filling ``tiers`` fastest first, each holding its KV capacity less ``used``: the shares in
    HBM, DDR, SSD, or None if they do not fit."""
    shares, left = [0.0, 0.0, 0.0], need
    for i, name in enumerate(_EVERY_TIER):
        if name in tiers and left > 0:
            take = min(left, node.kv_capacity(name, model) - used[i])
            shares[i], left = take / need, left - take
    return None if left > 1e-6 * need else tuple(shares)


def _label_bytes(node: Node, model: Model, batch: int, context: float) -> float:
    return batch * context * (stored_bytes_per_token(node, model, True) - node.kv_bytes_per_token(model))


def _placement(node: Node, model: Model, batch: int, context: float, tiers: tuple,
               sparse: bool = False) -> tuple | None:
    """Where a batch's tokens sit: the fraction of its KV in HBM, DDR, SSD, filled in that order, or None if it
    does not fit. A sparse system's label channels (``stored_bytes_per_token``) are read at every step, so they
    fill the tiers first and the KV takes the room they leave: :func:`label_placement` gives their shares."""
    if not sparse:
        return _fill(node, model, batch * context * node.kv_bytes_per_token(model), tiers)
    labels = label_placement(node, model, batch, context, tiers)
    if labels is None:
        return None
    label_bytes = _label_bytes(node, model, batch, context)
    return _fill(node, model, batch * context * node.kv_bytes_per_token(model), tiers,
                 tuple(share * label_bytes for share in labels))


def label_placement(node: Node, model: Model, batch: int, context: float, tiers: tuple) -> tuple | None:
    """The fraction of a sparse system's label channels in HBM, DDR, SSD: the fastest tiers first."""
    return _fill(node, model, _label_bytes(node, model, batch, context), tiers)


def _quantised(shares: tuple, steps: int = 50) -> tuple:
    """Tier shares on a 1/steps grid, still summing to 1 and keeping an empty tier empty: one host run then
    serves many batch sizes."""
    grid = [round(x * steps) for x in shares]
    grid[grid.index(max(grid))] += steps - sum(grid)
    return tuple(g / steps for g in grid)


def _energy(node: Node, model: Model, batch: int, step_s: float, pim_bytes: tuple, io_bytes: float,
            pcie_bytes: float) -> dict:
    e = node.energy
    bank = (e["hbm_bank_pj_per_bit"], e["ddr_bank_pj_per_bit"], e["ssd_die_pj_per_bit"])
    flops = 2 * batch * (model.layers * model.layer_params + model.vocab * model.hidden)
    static = (node.platform["gpus"] * e["gpu_static_w"] + node.tiers["ddr"].devices * e["ddr_static_w"]
              + node.tiers["ssd"].devices * e["ssd_static_w"])
    return {
        "gpu_compute": flops * e["gpu_pj_per_flop"] * 1e-12,
        "weights": 2 * model.weight_bytes * 8 * e["hbm_io_pj_per_bit"] * 1e-12,     # once per micro-batch
        "kv_pim": sum(b * 8 * f * e["pim_op_factor"] * 1e-12 for b, f in zip(pim_bytes, bank)),
        "kv_io": io_bytes * 8 * e["hbm_io_pj_per_bit"] * 1e-12,
        "pcie": pcie_bytes * 8 * (e["pcie_pj_per_bit"] + e["ddr_io_pj_per_bit"]) * 1e-12,
        "static": static * step_s,
    }


def vllm_kv_tiers(node: Node) -> tuple[str, ...]:
    """The tiers vLLM keeps KV in under the preset's ``vllm.kv_home``: HBM, then host DDR for the overflow
    (``hbm``), or host DDR alone (``host``)."""
    return ("hbm", "ddr") if node.vllm["kv_home"] == "hbm" else ("ddr",)


def gpu_offload_step(node: Node, model: Model, batch: int, context: float) -> StepResult:
    """vLLM with KV offloading: the GPU computes attention over every token. Where the KV lives is the preset's
    ``vllm.kv_home``: ``hbm`` fills HBM first and offloads the overflow to host DDR, ``host`` keeps all of it in
    host DDR. Offloaded KV crosses PCIe every step, overlapped with the GPU's work (prefetch of the next
    layer's KV while this one computes); the step's new tokens go to the KV's home (host DDR: over PCIe)."""
    homes = vllm_kv_tiers(node)
    shares = _placement(node, model, batch, context, homes)
    if shares is None:
        return StepResult("vLLM-offload", batch, context, False,
                          why=f"KV exceeds {' + '.join(h.upper() for h in homes)}")
    kv_token = node.kv_bytes_per_token(model)
    per_layer = batch * context * kv_token / model.layers
    hbm = shares[0] * per_layer / gpu_bandwidth(node)
    new_tokens = (batch * kv_token if node.vllm["kv_home"] == "host" else 0.0)   # written to host DDR
    pcie = (shares[1] * per_layer + new_tokens / model.layers) / link_bandwidth(node, "hbm_ddr")
    dense = dense_layer_s(node, model, batch)
    layer = max(dense + hbm, pcie)
    step = model.layers * layer + head_s(node, model, batch)
    kv = batch * context * kv_token
    energy = _energy(node, model, batch, step, (0, 0, 0), kv, shares[1] * kv + new_tokens)
    return StepResult("vLLM-offload", batch, context, True, step, model.layers * dense,
                      model.layers * (layer - dense), (hbm, pcie, 0.0), shares, 0.0, energy,
                      busy_s={"gpu": step, "pcie": model.layers * pcie})


def pim_step(node: Node, model: Model, batch: int, context: float, system: str, spec: dict | None = None) -> StepResult:
    """A PIM system: AttAcc (HBM only), L-PIM (layered, dense), LS-PIM (layered, sparse, static), PAM and its
    ablations (``PAM``, ``PAM-noattn``, ``PAM-nomap``, ``PAM-nosched``), as ``SYSTEMS[system]`` (or ``spec``)
    describes them.

    The step is the longest of the resources it keeps busy: the GPU and PIM pipeline of the layers; the GPUs'
    PCIe links (DDR's and SSD's q and partials, HBM<->DDR migrations, new tokens written below HBM); the SSDs'
    NVMe links (SSD's q and partials, DDR<->SSD migrations); the SSD tier's dies (the tier's attention, the
    migrations' page reads and the flash programs); and the host scheduler."""
    spec = spec or SYSTEMS[system]
    sparse = spec["sparse"]
    shares = _placement(node, model, batch, context, spec["tiers"], sparse)
    if shares is None:
        return StepResult(system, batch, context, False, why=f"KV exceeds {'+'.join(spec['tiers']).upper()}")
    budget = node.sparsity["budget"] if sparse else 1.0
    active = budget * context                                               # activated tokens per request
    moved = ssd_to_ddr = 0.0
    if sparse:
        tp = [node.tiers[t].throughput(model.group) for t in _EVERY_TIER]
        x, y = derive_ratios(*tp)
        profile = host_profile(_quantised(shares), budget, spec["dynamic"], x, y,
                               steps=node.sparsity["host_steps"], lam=node.sparsity["importance_lambda"],
                               new_tokens=spec["new_tokens"])
        active_share, new_in_ssd = profile.activated_share, profile.new_in_ssd
        moved, ssd_to_ddr = profile.moved, profile.ssd_to_ddr
    else:
        active_share = shares
        new_in_ssd = float(spec["new_tokens"] == "fill" and shares[2] > 0)
    new_below = new_in_ssd if spec["new_tokens"] == "fill" else 0.0          # new tokens placed below HBM
    imbalance = mapping_balance(spec["mapping"], sparsity=budget)
    tokens = [active * s for s in active_share]
    # Token selection: each tier's PUs scan the label channels it holds, every token's.
    scanned = [context * s for s in label_placement(node, model, batch, context, spec["tiers"])] if sparse \
        else [0.0, 0.0, 0.0]
    scan_cost = node.sparsity["label_fraction"] / 2 if sparse else 0.0     # label bytes / a token's K and V bytes
    kv_token = node.kv_bytes_per_token(model)
    exchange = [0.0, 0.0, 0.0]
    fetched = [0.0, 0.0, 0.0]                     # bytes per layer shipped to HBM-PIM (no PAMattention)
    if spec["remote_attention"]:        # no PAMattention: DDR and SSD ship their activated KV to HBM-PIM
        per_token = batch * kv_token / model.layers
        fetched = [0.0, (tokens[1] + tokens[2]) * per_token, tokens[2] * per_token]
        fetch = fetched[1] / link_bandwidth(node, "hbm_ddr") + fetched[2] / link_bandwidth(node, "ddr_ssd")
        tier_s = (pim_tier_layer_s(node.tiers["hbm"], model, batch, active, imbalance, scanned[0], scan_cost)
                  + fetch,
                  *(pim_tier_layer_s(node.tiers[t], model, batch, 0.0, imbalance, n, scan_cost)
                    for t, n in zip(_EVERY_TIER[1:], scanned[1:])))
    else:
        exchange = [exchange_s(node, model, batch, t) if n > 0 and t != "hbm" else 0.0
                    for t, n in zip(_EVERY_TIER, tokens)]
        tier_s = tuple(pim_tier_layer_s(node.tiers[t], model, batch, n, imbalance, c, scan_cost) + x
                       for t, n, c, x in zip(_EVERY_TIER, tokens, scanned, exchange))
    attention = max(tier_s)
    dense = dense_layer_s(node, model, batch)
    pipeline = model.layers * combine_overlapped(dense, attention) + head_s(node, model, batch)
    # The shared resources, each over the whole step.
    ex_bytes = exchange_bytes(node, model, batch)
    swaps = ssd_to_ddr * context * batch * kv_token              # each SSD->DDR move has a DDR->SSD move
    hbm_ddr_moves = (moved - 2 * ssd_to_ddr) * context * batch * kv_token
    new_bytes = new_below * batch * kv_token
    pcie_bytes = (model.layers * ((exchange[1] > 0) + (exchange[2] > 0)) * ex_bytes + hbm_ddr_moves + new_bytes
                  + model.layers * fetched[1])
    nvme_bytes = model.layers * ((exchange[2] > 0) * ex_bytes + fetched[2]) + 2 * swaps + new_in_ssd * new_bytes
    flash_writes = swaps + new_in_ssd * new_bytes
    ssd_attention = (tier_s[2] - exchange[2] - node.tiers["ssd"].sync_s) if tier_s[2] else 0.0
    ssd_reads = model.layers * fetched[2] / flash_read_bandwidth(node)     # shipped pages (no PAMattention)
    busy = {
        "pipeline": pipeline,
        "pcie": pcie_bytes / link_bandwidth(node, "hbm_ddr"),
        "nvme": nvme_bytes / link_bandwidth(node, "ddr_ssd"),
        "ssd_dies": (model.layers * ssd_attention + ssd_reads + swaps / flash_read_bandwidth(node)
                     + flash_writes / flash_program_bandwidth(node)),
        "host": host_scheduler_s(node, batch, active, moved * context) if sparse else 0.0,
    }
    step = max(busy.values())
    migrate = ((hbm_ddr_moves + new_bytes) / link_bandwidth(node, "hbm_ddr")
               + (2 * swaps + new_in_ssd * new_bytes) / link_bandwidth(node, "ddr_ssd"))
    pim_bytes = tuple(n * batch * kv_token for n in tokens)
    energy = _energy(node, model, batch, step, pim_bytes, 0.0, pcie_bytes + nvme_bytes)
    return StepResult(system, batch, context, True, step, model.layers * dense, model.layers * attention, tier_s,
                      shares, moved, energy, host_s=busy["host"], migration_s=migrate, busy_s=busy,
                      flash_write_bytes=flash_writes)


_PIM = {"tiers": _EVERY_TIER, "sparse": True, "dynamic": True, "mapping": True, "remote_attention": False,
        "new_tokens": "top"}
SYSTEMS = {
    "vLLM-offload": {"gpu": True},
    "AttAcc": {**_PIM, "tiers": ("hbm",), "sparse": False, "dynamic": False, "mapping": False},
    # The baselines use no PAM mechanism: static placement, round-robin bank groups (docs/results.md, Baselines).
    "L-PIM": {**_PIM, "sparse": False, "dynamic": False, "mapping": False},
    "LS-PIM": {**_PIM, "dynamic": False, "mapping": False},
    "PAM": _PIM,
    "PAM-noattn": {**_PIM, "remote_attention": True},
    "PAM-nomap": {**_PIM, "mapping": False},
    "PAM-nosched": {**_PIM, "dynamic": False},
    # The other readings of the brief's LS-PIM, for the ablation table.
    "LS-PIM-fill": {**_PIM, "dynamic": False, "mapping": False, "new_tokens": "fill"},
    "LS-PIM-map": {**_PIM, "dynamic": False},
}


def step(node: Node, model: Model, system: str, batch: int, context: float) -> StepResult:
    """One decode step of ``batch`` requests of mean context ``context`` on ``system``."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; choose one of {list(SYSTEMS)}")
    if batch < 1 or not context > 0:
        raise ValueError(f"batch must be >= 1 and context > 0, not {batch}, {context}")
    if model.head_dim != node.head_dim:
        raise ValueError(f"{model.name} has head_dim {model.head_dim}, the calibration {node.head_dim}: "
                         f"run pam calibrate --head-dim {model.head_dim}")
    if SYSTEMS[system].get("gpu"):
        return gpu_offload_step(node, model, batch, context)
    return pim_step(node, model, batch, context, system)


def scaled_down_attention_cycles(calibration: dict, spec, tokens_per_bank: list[list[int]]) -> float:
    """The model's attention time, in cycles, for the RTL's scaled-down system top (``sim.runs.system.SystemSpec``,
    one request and kv head), from a calibration of that top (``sim.calibrate.calibrate_system``): the node
    model's per-tier formula (:func:`pim_tier_layer_s`) with the top's banks and RUs, no per-layer sync, and
    the tiers in parallel."""
    model = Model("scaled_down", "scaled-down top", 1, spec.head_dim, spec.group, 1, spec.head_dim, 1, "mlp", 1)
    times = [0.0]
    for dev, tokens in zip(spec.devices, tokens_per_bank):
        if not sum(tokens):
            continue
        pu = next(e for e in calibration["pu"] if e["tier"] == dev.tier)
        ru = next(e for e in calibration["ru"] if e["tier"] == dev.tier)
        tier = Tier(dev.tier, 1, len(tokens), dev.bank_groups + 1, 0.0, 1.0, {spec.group: pu["cycles_per_token"]},
                    {spec.group: pu["fixed_cycles"]}, ru["cycles_per_partial"], 0.0)
        times.append(pim_tier_layer_s(tier, model, 1, float(sum(tokens)), max(tokens) * len(tokens) / sum(tokens)))
    return max(times)


@functools.cache
def default_node(preset: str = "physical") -> Node:
    return load_node(preset=preset)
