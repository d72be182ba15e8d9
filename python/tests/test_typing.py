"""The package type-checks with mypy --strict (configured in
python/pyproject.toml; needs mypy and aiosmtpd, whose types mtatls.smtpd
uses)."""

import os
import subprocess
import sys

from conftest import import_optional

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mypy_strict():
    import_optional("mypy")
    import_optional("aiosmtpd")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull],
                         cwd=PYTHON_DIR, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("Success: no issues found in 8 source files"), out.stdout
