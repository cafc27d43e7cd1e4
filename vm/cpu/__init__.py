"""The i386 CPU of the reference VM (see core.py for the execution model)."""
from .core import CPU
from .faults import Fault, TripleFault

__all__ = ["CPU", "Fault", "TripleFault"]
