"""Hypothesis profiles for the engine's property tests.

JQ2QMT_HYPOTHESIS_PROFILE=ci  -> 2,000 examples per property, derandomized (same
                                 examples on every run), no deadline: what CI runs.
unset (or "dev")              -> 150 examples per property for quick local runs.
JQ2QMT_HYPOTHESIS_PROFILE=soak -> random (not derandomized) examples, as many per
                                 property as JQ2QMT_HYPOTHESIS_EXAMPLES (default
                                 5,000): a longer hunt for new counterexamples.

The profile is registered under the name "jq2qmt-engine" and applied by the
property tests with @settings(settings.get_profile("jq2qmt-engine")), so it never
changes hypothesis settings of other test areas.
"""

import os

from hypothesis import HealthCheck, settings

_PROFILES = {
    "ci": dict(
        max_examples=2000,
        derandomize=True,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
    "dev": dict(
        max_examples=150,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
    "soak": dict(
        max_examples=int(os.environ.get("JQ2QMT_HYPOTHESIS_EXAMPLES", "5000")),
        derandomize=False,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
}

_name = os.environ.get("JQ2QMT_HYPOTHESIS_PROFILE", "dev")
if _name not in _PROFILES:
    raise RuntimeError("JQ2QMT_HYPOTHESIS_PROFILE must be one of %s" % sorted(_PROFILES))
settings.register_profile("jq2qmt-engine", **_PROFILES[_name])
