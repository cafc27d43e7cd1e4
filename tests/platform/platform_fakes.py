"""Stand-ins for the machine around a device under unit test."""

import io


class FakeBoard:
    def __init__(self):
        self.now = 0
        self.irqs = []              # (irq, level) or (irq, "pulse")
        self.exits = []
        self.resets = []
        self.a20 = True
        self.logs = []

    def cycles(self):
        return self.now

    def set_irq(self, irq, level):
        self.irqs.append((irq, level))

    def pulse_irq(self, irq):
        self.irqs.append((irq, "pulse"))

    def events_changed(self):
        self.reschedules = getattr(self, "reschedules", 0) + 1

    def request_exit(self, reason, code, message=""):
        self.exits.append((reason, code))

    def request_reset(self, why):
        self.resets.append(why)

    def set_a20(self, on):
        self.a20 = on

    def a20_enabled(self):
        return self.a20

    def log(self, category, message):
        self.logs.append((category, message))


class FakeCPU:
    irq_pending = False


def output():
    return io.BytesIO()
