"""Shared setup of the mtatls package tests.

The library under test: $MTATLS_LIB (tests/python.rs points it at the
build), else wherever the package finds an installed one.
MTATLS_REQUIRE_PYTHON=1 turns every optional part (aiosmtpd, a C compiler)
from a skip into a failure.
"""

import os
from typing import Any, Optional

import pytest

REQUIRED = os.environ.get("MTATLS_REQUIRE_PYTHON") in ("1", "yes")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(ROOT, "include", "mtatls.h")


def optional(what: str, available: bool, why: str) -> None:
    """Skip when `what` is not available, or fail when it is required."""
    if available:
        return
    if REQUIRED:
        pytest.fail("%s is required (MTATLS_REQUIRE_PYTHON=1) but %s" % (what, why))
    pytest.skip("%s: %s" % (what, why), allow_module_level=True)


def import_optional(module: str) -> Optional[Any]:
    try:
        return __import__(module)
    except ImportError as e:
        optional(module, False, "not importable: %s" % e)
        return None
