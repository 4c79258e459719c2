"""The clusters' sample spreadsheets and what a correct import of them yields (``README.md``
here describes them)."""

import json
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())
#: The sample file of each profile (the profile is the cluster's slug).
FILES = {"digitalplace": SAMPLES / "digitalplace.xlsx", "frenchsouth": SAMPLES / "frenchsouth.csv"}
