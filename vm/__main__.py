"""`python -m vm IMAGE [options]`: boot a disk image on the reference PC."""
import sys

from vm.cli import main

sys.exit(main())
