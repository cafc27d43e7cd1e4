"""The linker tests' helpers (lk_*.py) live next to them; make them importable."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
