"""Regenerate input.json, calibration.json and holdout.json for gru_forecaster.

Run: python data.py (writes next to this file; deterministic). Calibration rows are
training windows; holdout rows are the later, chronologically separate test windows.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from circuit_data import main  # noqa: E402

if __name__ == "__main__":
    main(__file__)
