"""``Separator``: one unit built per configuration, a stand-in in the place of every copy."""

import gc
import warnings

from amaranth.back import rtlil
from amaranth.hdl import UnusedElaboratable

from golden.formats import FP16, FP32
from hw.device import Device
from hw.fp.fdot import FDot
from hw.system import System
from hw.tierconfig import load_tier
from sim.verilator.separate import Separate, Separator, silence_unused


class Counting(Separator):
    """A Separator that records which units it builds."""

    def __init__(self):
        super().__init__()
        self.made = []

    def __call__(self, make, key):
        def counted():
            self.made.append(key[0])
            return make()
        return super().__call__(counted, key)


def test_the_copies_of_a_unit_are_never_built():
    tier = load_tier("ddr4").with_rows(2)
    separator = Counting()
    devices = [Device(tier, FP16, FP32, 16, 1, 4, 2, 2, separate=separator) for _ in range(2)]
    system = System(devices, FP16, FP32, tier.lanes, 16, separate=separator)
    # 8 bank PUs and 7 RUs of two configurations (the RUs are all alike): two units built, one of each
    assert separator.made == ["BankPU", "RU"] and len(separator.modules) == 2
    units = [u for dev in devices for group in dev.units for u in group]
    assert len(units) == 8 and all(isinstance(u, Separate) for u in units)
    assert len({u.module for u in units}) == 1 and len({id(u) for u in units}) == 8
    (bank_pu, ru) = separator.modules.values()
    assert all(u.signature == bank_pu.signature for u in units)
    # Nothing here is elaborated: the system and the two units are marked so, and nothing else is left.
    rtlil.convert(FDot(FP16, FP32, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_unused([system, *separator.modules.values()])
        del system, devices, units, bank_pu, ru
        separator.modules.clear()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, UnusedElaboratable)] == []
