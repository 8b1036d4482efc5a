"""How much the fuzzer tries: small and reproducible in CI, bigger by hand.

RUNPLANE_FUZZ_EXAMPLES sets the examples per fuzzed operation and mode (schemathesis); each
hostile template (hostile strategies, cheaper to generate) gets HOSTILE_SCALE times as many.
The default keeps the whole fuzz suite within about three minutes on two cores over both
databases. Generation is derandomized (a fixed seed per test)
and keeps no example database, so CI sends the same inputs on every run;
RUNPLANE_FUZZ_SEED=random draws new ones (for long runs by hand).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 10
HOSTILE_SCALE = 4
# One request's bound: a hang is a finding, not a slow test.
REQUEST_TIMEOUT = 30.0


def examples() -> int:
    return max(1, int(os.environ.get("RUNPLANE_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)))


def hostile_examples() -> int:
    return examples() * HOSTILE_SCALE


def fuzz_settings(max_examples: int | None = None) -> settings:
    return settings(
        max_examples=max_examples or examples(),
        deadline=None,
        database=None,
        derandomize=os.environ.get("RUNPLANE_FUZZ_SEED", "") != "random",
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
