"""Independent, reproducible random streams.

Every random decision draws from a generator keyed by (seed, purpose, keys...) instead of one global
stream. A compressor's baseline therefore does not change when the fleet grows, one day's noise does
not depend on how many days were generated before it, and switching a fault kind on or off leaves
every other value untouched.
"""

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    BASELINE = 1
    NOISE = 2
    METADATA = 3
    FAULT_PLAN = 4
    FAULT_CHUNK = 5
    REALISTIC_PLAN = 6
    REALISTIC_NOISE = 7


def rng(seed: int, stream: Stream, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, int(stream), *keys]))
