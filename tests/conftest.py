"""Shared pytest setup: hypothesis profiles and the project root."""
import os
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# The suite's compile cache and VM translation store live in the checkout,
# not in the user's ~/.cache/kpy: one suite run (kernel variants, the
# differential tests' random code) wrote 123 MB of translations there,
# past the store's limit (128 MiB with the rest), and a dropped store makes
# the user's next `kpyc run` a cold one.
# Set here, before any test imports vm (the store is opened at import) and
# for every `kpyc`/`python -m vm` a test starts; over a KPY_CACHE_DIR of
# yours too, which would fill up the same way.
os.environ["KPY_CACHE_DIR"] = str(ROOT / "build" / "test-cache")

# CI runs derandomized so a red run can be replayed; locally examples vary.
settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
