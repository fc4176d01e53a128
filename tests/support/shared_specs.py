"""Where the team's shared API reference data lives: `shared/` beside the repository.

CI clones the repository with `shared/` next to it; TIEOUT_SHARED_DIR points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("TIEOUT_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
SPECS = SHARED / "specs"
