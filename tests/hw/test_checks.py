"""The constructors' argument checks: pure functions that refuse a bad shape before any elaboratable exists,
so a rejected unit is never left behind as an unused elaboratable."""

import gc
import re
import warnings

import pytest
from amaranth.back import rtlil
from amaranth.hdl import UnusedElaboratable

from golden.formats import FP16, FP32
from hw.bank import Bank, check_dram_tier
from hw.device import Device, check_device_shape
from hw.flash import FlashDie, check_flash_die
from hw.fp.fdot import FDot, check_dot_lanes
from hw.normalize import Normalize
from hw.partial import check_vector_shape
from hw.pu import MIN_PASS, PU, check_pu_shape
from hw.ru import RU
from hw.system import System, check_system_shape
from hw.tierconfig import load_tier

DDR4, HBM3, SSD = (load_tier(name).with_rows(2) for name in ("ddr4", "hbm3", "ssd"))
PU_SPACING = f"with at least {MIN_PASS} chunks (the V-phase accumulators need that spacing)"

# (check, its arguments, the constructor given the same arguments, the message both raise)
CASES = [
    (check_pu_shape, (3, 16, 1, 4), lambda: PU(FP16, FP32, 3, 16, 1, 4), "lanes must be a power of two, not 3"),
    (check_pu_shape, (0, 16, 1, 4), lambda: PU(FP16, FP32, 0, 16, 1, 4), "lanes must be a power of two, not 0"),
    (check_pu_shape, (4, 12, 1, 4), lambda: PU(FP16, FP32, 4, 12, 1, 4),
     f"head_dim 12 must be a multiple of lanes 4 {PU_SPACING}"),
    (check_pu_shape, (4, 18, 1, 4), lambda: PU(FP16, FP32, 4, 18, 1, 4),
     f"head_dim 18 must be a multiple of lanes 4 {PU_SPACING}"),
    (check_pu_shape, (4, 16, 0, 4), lambda: PU(FP16, FP32, 4, 16, 0, 4),
     "max_group (0) and block_tokens (4) must be >= 1"),
    (check_pu_shape, (4, 16, 1, 0), lambda: PU(FP16, FP32, 4, 16, 1, 0),
     "max_group (1) and block_tokens (0) must be >= 1"),
    (check_vector_shape, (6, 12), lambda: RU(FP16, FP32, 6, 12), "lanes must be a power of two, not 6"),
    (check_vector_shape, (4, 10), lambda: Normalize(FP16, FP32, 4, 10),
     "head_dim 10 must be a positive multiple of lanes 4"),
    (check_dot_lanes, (6,), lambda: FDot(FP16, FP32, 6), "lanes must be a power of two >= 1, not 6"),
    (check_dram_tier, (SSD,), lambda: Bank(SSD),
     "tier: ssd is a flash tier; a DRAM bank needs a DRAM tier (hbm3, ddr4), and a flash die is hw.flash.FlashDie"),
    (check_flash_die, (HBM3,), lambda: FlashDie(HBM3),
     "tier 'hbm3' has no [flash] timing; a DRAM tier needs hw.bank.Bank"),
    (check_flash_die, (SSD, 0), lambda: FlashDie(SSD, 0), "sharers must be >= 1, not 0"),
    (check_device_shape, (DDR4, 16, 1, 4, 0, 2), lambda: Device(DDR4, FP16, FP32, 16, 1, 4, 0, 2),
     "bank_groups (0), banks (2) and requests (4) must be >= 1"),
    (check_device_shape, (DDR4, 16, 1, 4, 1, 2, 0), lambda: Device(DDR4, FP16, FP32, 16, 1, 4, 1, 2, requests=0),
     "bank_groups (1), banks (2) and requests (0) must be >= 1"),
    (check_device_shape, (DDR4, 12, 1, 4, 1, 2), lambda: Device(DDR4, FP16, FP32, 12, 1, 4, 1, 2),
     f"head_dim 12 must be a multiple of lanes 4 {PU_SPACING}"),         # the PUs' check, before any PU exists
    (check_system_shape, ([], 4, 16), lambda: System([], FP16, FP32, 4, 16), "a system needs 1 to 15 devices, not 0"),
    (check_system_shape, ([None] * 16, 4, 16), lambda: System([None] * 16, FP16, FP32, 4, 16),
     "a system needs 1 to 15 devices, not 16"),
    (check_system_shape, ([None], 4, 10), lambda: System([None], FP16, FP32, 4, 10),
     "head_dim 10 must be a positive multiple of lanes 4"),
]
IDS = [f"{check.__name__}-{i}" for i, (check, *_) in enumerate(CASES)]


@pytest.mark.parametrize("check,args,build,message", CASES, ids=IDS)
def test_a_check_and_its_constructor_refuse_with_the_same_message(check, args, build, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check(*args)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build()


@pytest.mark.parametrize("check,args,build,message", CASES, ids=IDS)
def test_a_rejected_unit_is_never_an_unused_elaboratable(check, args, build, message):
    """Amaranth warns, when it is collected, about an elaboratable that was made and never elaborated (once
    anything has been elaborated): the check runs before the object exists, so nothing is left to warn."""
    rtlil.convert(FDot(FP16, FP32, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError):
            build()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, UnusedElaboratable)] == []


def test_the_checks_pass_what_the_constructors_build():
    check_pu_shape(4, 16, 1, 4)
    check_vector_shape(4, 4)
    check_dot_lanes(1)
    check_dram_tier(DDR4)
    check_flash_die(SSD, 4)
    check_device_shape(DDR4, 16, 2, 4, 1, 1, 1)
    check_system_shape([None] * 15, 4, 16)
