"""The clusters' sample spreadsheets and what a correct import of them yields (described in
``tests/samples/README.md``), kept in the repository so that a clone is self-contained."""

import json
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())
#: The sample file of each profile (the profile is the cluster's slug).
FILES = {"digitalplace": SAMPLES / "digitalplace.xlsx", "frenchsouth": SAMPLES / "frenchsouth.csv"}
#: The original, when this checkout sits beside the shared folder.
SHARED = SAMPLES.parents[2] / "shared" / "samples"
