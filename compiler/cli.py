"""kpyc command line (placeholder until the integration lands)."""
import sys

def main(argv=None) -> int:
    print("kpyc: not built yet", file=sys.stderr)
    return 2
