"""XGBoost as the local container and the bench scripts load it.

Kept apart from runner/emulator/ so that `make bench` can load a plain script's XGBoost the same
way without loading the emulator.
"""

from __future__ import annotations

import sys
from types import ModuleType

from runner.openmp import apply_openmp_defaults


def import_xgboost() -> ModuleType:
    """`xgboost`, with OpenMP's idle threads asleep and without scikit-learn.

    xgboost 1.7.4 imports scikit-learn whenever it is installed (its `compat.py`, for the
    XGBClassifier wrappers), which nothing here uses: 1.2 s on an idle machine, several
    seconds on a busy one, in every `run.py --local` and every training host process.
    scikit-learn is installed for the tests' public datasets. A process that loaded
    scikit-learn first keeps xgboost's wrappers.
    """
    apply_openmp_defaults()  # before xgboost loads libgomp
    hide = "sklearn" not in sys.modules
    if hide:
        sys.modules["sklearn"] = None  # `from sklearn... import` raises ImportError
    try:
        import xgboost
    finally:
        if hide and sys.modules.get("sklearn", False) is None:
            del sys.modules["sklearn"]
    return xgboost
