"""NumPy array types shared by the simulator modules, so mypy --strict can follow array arithmetic."""

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
