"""Regenerate input.json, calibration.json and holdout.json for conv1d_sequence.

Run: python data.py (writes next to this file; deterministic). Calibration rows are
training windows; holdout rows are later test windows (time-ordered split), with the real up/down labels as `targets`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from circuit_data import main  # noqa: E402

if __name__ == "__main__":
    main(__file__)
