"""Regenerate input.json, calibration.json and holdout.json for gbt_classifier.

Run: python data.py (writes next to this file; deterministic). Calibration rows are
training samples; holdout rows are the whole stratified test split, with the true cultivar labels as `targets`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from circuit_data import main  # noqa: E402

if __name__ == "__main__":
    main(__file__, n_holdout=None)
