"""python/README.md's API reference is generated from the docstrings
(python/tools/reference.py) and must not drift from them. Refresh with
MTATLS_UPDATE_DOCS=1 (or `python3 python/tools/reference.py --update`)."""

import os
import sys

from conftest import import_optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import reference  # noqa: E402


def test_readme_reference_is_current():
    import_optional("aiosmtpd")  # mtatls.smtpd is in the reference
    if os.environ.get("MTATLS_UPDATE_DOCS") == "1":
        reference.update()
    want = reference.render() + "\n"
    assert reference.current_section() == want, (
        "python/README.md's API reference differs from the docstrings; refresh with "
        "python3 python/tools/reference.py --update")


def test_readme_names_only_what_exists():
    import mtatls
    with open(reference.README) as f:
        text = f.read()
    for name in ("AsyncSession", "start_tls", "TlsTransport", "IncompatibleLibraryVersion", "LibraryNotFound",
                 "NotVerified", "BadState", "TimeoutError_", "OpenSSLContextError", "Result", "library_path"):
        assert name in text and hasattr(mtatls, name), name
