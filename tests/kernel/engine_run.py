"""Boot each image named on the command line on the VM and print one JSON
line per run: serial text, cycles, instructions, end reason and exit code.
Run by test_engines.py under CPython and under pypy3 (so: stdlib and vm/
only, Python 3.9)."""
import io
import json
import sys

from vm.machine import Machine

MAX_INSNS = 200_000_000


def main(paths):
    for path in paths:
        with open(path, "rb") as fh:
            image = fh.read()
        serial = io.BytesIO()
        machine = Machine(ram_size=128 << 20, timing="tcg", disk=image, serial=serial)
        result = machine.run(max_insns=MAX_INSNS)
        print(json.dumps({"image": path, "serial": serial.getvalue().decode("latin-1"), "cycles": result.cycles,
                          "insns": result.insns, "reason": result.reason, "exit": result.exit_code}))


if __name__ == "__main__":
    main(sys.argv[1:])
