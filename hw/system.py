"""System top: one device per tier, the inter-device RU (in HBM-PIM) and the final normalisation.

``cmd`` carries a device command (``hw.device``) plus ``dev``, the device it
goes to (index into ``devices``, tier order), or the system's own
``Op.REDUCE`` {group}: fold the G partials of every device, device by device
in index order (``golden.placement.Placement.tree`` top level), and divide
once. The answer is one ``out`` word per query head: O/l in ``fmt`` and the
error flags of ``hw.normalize``. ``pu_active`` has a bit per device (any of
its PUs at work), ``ru_active`` one per device and a last one for the
inter-device RU. Each command gets one ``status``; a command
for a device that does not exist is rejected with ``OUT_OF_DEVICE``.
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth import Array, Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat

from .device import (STATUS_LAYOUT, Device, Op, Status, command_layout, ordered_merge, reduction_tail_bounds,
                     status_slot)
from .normalize import Normalize, output_layout
from .partial import check_vector_shape
from .ru import RU, fold_cycles

__all__ = ["System", "check_system_shape", "system_command_layout"]



def check_system_shape(devices: Sequence[Device], lanes: int, head_dim: int) -> None:
    """Refuse a system that cannot be built (``System`` calls this before it exists): 1 to 15 devices, and a
    shape of the inter-device RU and the normalisation that ``hw.partial.check_vector_shape`` takes."""
    if not 1 <= len(devices) <= 15:
        raise ValueError(f"a system needs 1 to 15 devices, not {len(devices)}")
    check_vector_shape(lanes, head_dim)


def system_command_layout(fmt: FloatFormat, devices: Sequence[Device], head_dim: int) -> data.StructLayout:
    """``dev`` plus a device command wide enough for the widest column and the most banks of ``devices``."""
    column_bits = max(len(dev.cmd.payload.data) for dev in devices)
    banks = max(len(dev.cmd.payload.counts) for dev in devices)
    device_fields = command_layout(fmt, column_bits, head_dim, banks)
    return data.StructLayout({"dev": 4, **{name: field.shape for name, field in device_fields}})


class System(wiring.Component):
    """Devices of every tier merged by the inter-device RU.

    Parameters
    ----------
    devices : sequence of Device
        In tier order (HBM, DDR, SSD); all with the same fmt, acc and head_dim.
    fmt, acc : FloatFormat
    lanes, head_dim : int
        W of the inter-device RU and normalise stage (HBM's), and head_dim.
    separate : callable, optional
        Called for the inter-device RU as :class:`hw.device.Device` calls it for its units.
    """

    def __new__(cls, devices: Sequence[Device], fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int,
                separate=None):
        # Checked before the object exists, so a rejected system is never an unused elaboratable.
        check_system_shape(devices, lanes, head_dim)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, devices: Sequence[Device], fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int,
                 separate=None):
        self._devices = list(devices)

        def ru():
            return RU(fmt, acc, lanes, head_dim)
        self._ru = separate(ru, ("RU", fmt.name, acc.name, lanes, head_dim)) if separate else ru()
        self._norm = Normalize(fmt, acc, lanes, head_dim)
        self._lanes, self._head_dim = lanes, head_dim
        super().__init__({
            "cmd": In(stream.Signature(system_command_layout(fmt, devices, head_dim))),
            "status": Out(stream.Signature(STATUS_LAYOUT)),
            "out": Out(stream.Signature(output_layout(fmt, head_dim))),
            "pu_active": Out(len(devices)), "ru_active": Out(len(devices) + 1),
        })

    def tail_bounds(self) -> tuple[int, int]:
        """Cycles from the last PU of any device going idle to the last output word, outputs always ready and
        the REDUCE command already taken (the reduction tail: a decode step's attention lasts the longest
        device's PU span plus this).

        At least the quickest device's tail (``Device.tail_bounds``), one fold in the inter-device RU and one
        normalisation (``Normalize.cycles``); at most the slowest device's, the inter-device RU's fold under
        way plus the last head's D inputs and its send, and two normalisations (the one under way, then the
        last head's).
        """
        low_top, high_top = reduction_tail_bounds(fold_cycles(self._lanes, self._head_dim), [len(self._devices)])
        norm = self._norm.cycles()
        bounds = [dev.tail_bounds() for dev in self._devices]
        return (min(low for low, _ in bounds) + low_top + norm,
                max(high for _, high in bounds) + high_top + 2 * norm)

    def elaborate(self, platform):
        m = Module()
        devs = self._devices
        for i, dev in enumerate(devs):
            m.submodules[f"dev{i}"] = dev
        m.submodules.top_ru = ru = self._ru
        m.submodules.normalize = norm = self._norm
        ordered_merge(m, [dev.part for dev in devs], ru.inp, "top")
        wiring.connect(m, ru.out, norm.inp)
        wiring.connect(m, norm.out, wiring.flipped(self.out))

        cmd = self.cmd.payload
        pending = Signal(name="pending")                 # a device command is waiting for its status
        pending_dev = Signal(range(len(devs)), name="pending_dev")
        reduce_left = Signal(8, name="reduce_left")
        status_full, status = status_slot(m, self.status)

        is_reduce = cmd.op == Op.REDUCE
        known = cmd.dev < len(devs)
        idle = ~status_full & ~pending
        for i, dev in enumerate(devs):
            for name, _ in dev.cmd.payload.shape():        # narrower data and counts take the low bits
                m.d.comb += getattr(dev.cmd.payload, name).eq(Value.cast(getattr(cmd, name)))
            m.d.comb += dev.cmd.valid.eq(self.cmd.valid & idle & ~is_reduce & (cmd.dev == i))
            m.d.comb += dev.status.ready.eq(pending & (pending_dev == i) & ~status_full)
            with m.If(dev.status.valid & dev.status.ready):
                m.d.sync += [pending.eq(0), status_full.eq(1), status.eq(dev.status.payload)]
        dev_ready = Array(dev.cmd.ready for dev in devs)[cmd.dev]
        local = is_reduce | ~known
        m.d.comb += self.cmd.ready.eq(idle & (local | dev_ready) & ~(is_reduce & (reduce_left != 0)))
        with m.If(self.cmd.valid & self.cmd.ready):
            with m.If(local):
                ok = is_reduce & (cmd.group != 0)
                m.d.sync += [status_full.eq(1), status.op.eq(cmd.op),
                             status.code.eq(Mux(ok, Status.OK, Status.OUT_OF_DEVICE))]
                with m.If(ok):
                    m.d.sync += reduce_left.eq(cmd.group)
            with m.Else():
                m.d.sync += [pending.eq(1), pending_dev.eq(cmd.dev)]
        m.d.comb += [ru.cmd.valid.eq(reduce_left != 0), ru.cmd.payload.inputs.eq(len(devs)),
                     self.pu_active.eq(Cat(*(dev.pu_active for dev in devs))),
                     self.ru_active.eq(Cat(*(dev.ru_active for dev in devs), ru.busy))]
        with m.If(ru.cmd.valid & ru.cmd.ready):
            m.d.sync += reduce_left.eq(reduce_left - 1)
        return m
