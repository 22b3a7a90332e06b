"""ruff holds the import rules (no airflow/sklearn/pandas/google.cloud at module level in the core)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_passes_on_the_whole_repository():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a test dependency; run scripts/bootstrap.sh"
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_ban_is_configured():
    config = (ROOT / "pyproject.toml").read_text()
    assert 'banned-module-level-imports = ["airflow", "google.cloud", "sklearn", "pandas", "scipy"]' in config
