"""Errors raised by the engine."""


class ScenarioError(ValueError):
    """A scenario that breaks the scenario contract (docs/engine.md).

    `field` is a dotted path into the scenario (``account.positions[2].volume``),
    `reason` says what is wrong; str() is "field: reason", one line.
    """

    def __init__(self, field, reason):
        ValueError.__init__(self, "%s: %s" % (field, reason))
        self.field = field
        self.reason = reason
