"""Make tests/timing/timing_guest.py importable."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
