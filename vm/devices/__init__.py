"""The PC's devices, each driven through the port bus or an MMIO window.

Every device talks to the rest of the machine through a small `board`
object (the Machine) for the few things that cross devices: raising an
interrupt line, power and reset requests, the A20 gate, and logging.
"""
