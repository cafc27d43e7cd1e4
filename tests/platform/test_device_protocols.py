"""The machine's devices keep the contracts of vm/devices/protocols.py, and
the timed ones (those the run loop asks for events) are derived from them."""
from vm.devices.protocols import Device, TimedDevice
from vm.machine import Machine


def test_every_device_registers_and_the_timed_ones_are_derived():
    m = Machine(timing="tcg")
    assert all(isinstance(d, Device) for d in m.devices)
    assert m.timed_devices == [m.pit, m.cmos]
    assert m.vga in m.devices and not isinstance(m.vga, TimedDevice)
