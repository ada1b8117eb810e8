import sys
from pathlib import Path

import pytest

TRAIN_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAIN_DIR.parents[1]
GOLDEN_DIR = REPO_ROOT / "test" / "fixtures" / "golden"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

sys.path.insert(0, str(TRAIN_DIR))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
