"""Where the shared reference data lives (``../shared`` beside the checkout; never part of the
product), and the ``@pytest.mark.shared(...)`` rule: a test that needs a file there is skipped,
saying which file, when it is absent — or fails when ``GAM_VIEWER_REQUIRE_SHARED=1`` (CI sets
it, so a CI run can never pass by skipping the reference checks)."""

import os
from pathlib import Path
from typing import List

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REQUIRE_ENV = "GAM_VIEWER_REQUIRE_SHARED"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def missing(*relative: str) -> List[str]:
    return [r for r in relative if not (SHARED / r).exists()]
