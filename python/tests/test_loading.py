"""Finding libmtatls (MTATLS_LIB, the system loader, pkg-config), the
version check, and the exception class of every mtatls_result code.

The discovery tests run Python in a subprocess with a made-up install
tree (lib/libmtatls.so.X.Y.Z, its SONAME link, lib/pkgconfig/mtatls.pc)
holding a copy of the library under test.
"""

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

import mtatls
from mtatls import _lib, errors
from conftest import HEADER, optional

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
PROBE = "import mtatls; print(mtatls.library_path()); print(mtatls.version())"


def run_python(code, env_changes, timeout=60):
    env = dict(os.environ)
    for k in ("MTATLS_LIB", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR"):
        env.pop(k, None)
    env["PYTHONPATH"] = SRC
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


def header_results():
    with open(HEADER) as f:
        return [(m.group(1), int(m.group(2))) for m in re.finditer(r"\bMTATLS_RESULT_(\w+) = (\d+),", f.read())]


@pytest.fixture(scope="module")
def install_tree(tmp_path_factory):
    """PREFIX/lib with the library under test as an installed copy."""
    prefix = tmp_path_factory.mktemp("prefix")
    lib = prefix / "lib"
    (lib / "pkgconfig").mkdir(parents=True)
    real = "libmtatls.so.%d.%d.%d" % _lib.BINDING_VERSION
    shutil.copy(mtatls.library_path(), lib / real)
    os.symlink(real, lib / _lib.soname())
    os.symlink(_lib.soname(), lib / "libmtatls.so")
    (lib / "pkgconfig" / "mtatls.pc").write_text(textwrap.dedent("""\
        prefix=%s
        exec_prefix=${prefix}
        libdir=${exec_prefix}/lib
        includedir=${prefix}/include

        Name: mtatls
        Description: test install tree
        Version: %d.%d.%d
        Libs: -L${libdir} -lmtatls
        Cflags: -I${includedir}
        """ % ((prefix,) + _lib.BINDING_VERSION)))
    return prefix


def system_library():
    """A libmtatls the system loader finds without help, if any (it comes first)."""
    return ctypes.util.find_library("mtatls")


# ---- version ----

def test_version_names_the_loaded_library():
    text = mtatls.version()
    assert re.match(r"^mtatls 0\.1\.\d+ \(OpenSSL 3\.", text), text
    assert _lib.parse_version(text)[:2] == _lib.BINDING_VERSION[:2]
    path = mtatls.library_path()
    assert os.path.isabs(path) and os.path.exists(path)
    if os.environ.get("MTATLS_LIB"):
        assert os.path.realpath(path) == os.path.realpath(os.environ["MTATLS_LIB"])
    assert mtatls.__version__ == "%d.%d.%d" % _lib.BINDING_VERSION


def test_binding_version_is_the_headers():
    with open(HEADER) as f:
        text = f.read()
    got = tuple(int(re.search(r"#define MTATLS_VERSION_%s (\d+)" % part, text).group(1))
                for part in ("MAJOR", "MINOR", "PATCH"))
    assert got == _lib.BINDING_VERSION


def test_compatibility_rule():
    assert _lib.compatible((0, 1, 0)) and _lib.compatible((0, 1, 9))
    assert not _lib.compatible((0, 2, 0)) and not _lib.compatible((0, 0, 9))
    assert not _lib.compatible((1, 1, 0))
    assert _lib.compatible((1, 3, 0), (1, 2, 0)) and _lib.compatible((1, 2, 5), (1, 2, 0))
    assert not _lib.compatible((1, 1, 0), (1, 2, 0)) and not _lib.compatible((2, 2, 0), (1, 2, 0))
    assert _lib.soname((0, 1, 0)) == "libmtatls.so.0.1" and _lib.soname((1, 4, 2)) == "libmtatls.so.1"
    assert _lib.parse_version("mtatls 12.3.4 (OpenSSL 3.5.0)") == (12, 3, 4)
    assert _lib.parse_version("libfoo 1.0") is None


def test_incompatible_library_is_refused_naming_both_versions(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    optional("a C compiler", cc is not None, "no cc/gcc on PATH")
    src = tmp_path / "fake.c"
    src.write_text('const char *mtatls_version(void) { return "mtatls 0.2.0 (OpenSSL 3.0.19 fake)"; }\n')
    fake = tmp_path / "libmtatls.so.0.2.0"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(fake), str(src)], check=True, timeout=60)
    out = run_python(PROBE, {"MTATLS_LIB": str(fake)})
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("mtatls.errors.IncompatibleLibraryVersion: libmtatls 0.2.0 is incompatible "
                           "with this mtatls Python package 0.1.0 (it needs a library 0.1.x)"), out.stderr
    assert str(fake) in last and '"mtatls 0.2.0 (OpenSSL 3.0.19 fake)"' in last
    # In process: the exception's fields.
    with pytest.raises(errors.IncompatibleLibraryVersion) as e:
        raise errors.IncompatibleLibraryVersion(str(fake), (0, 2, 0), (0, 1, 0), "x")
    assert isinstance(e.value, errors.LibraryError) and isinstance(e.value, OSError)
    assert (e.value.library_version, e.value.binding_version) == ((0, 2, 0), (0, 1, 0))


def test_missing_library_names_what_was_tried(tmp_path):
    missing = str(tmp_path / "nowhere" / "libmtatls.so")
    out = run_python(PROBE, {"MTATLS_LIB": missing})
    assert out.returncode != 0
    assert "mtatls.errors.LibraryNotFound: cannot load libmtatls" in out.stderr
    assert missing in out.stderr and "$MTATLS_LIB" in out.stderr


def test_found_through_the_system_loader(install_tree):
    libdir = str(install_tree / "lib")
    out = run_python(PROBE, {"LD_LIBRARY_PATH": libdir})
    assert out.returncode == 0, out.stderr
    path, text = out.stdout.splitlines()
    assert text == mtatls.version()
    if system_library() is None:
        assert os.path.dirname(path) == libdir, path


def test_found_through_pkg_config(install_tree):
    optional("pkg-config", shutil.which("pkg-config") is not None, "not on PATH")
    pc = str(install_tree / "lib" / "pkgconfig")
    out = run_python("from mtatls import _lib; print(_lib.pkg_config_libdir())\n" + PROBE,
                     {"PKG_CONFIG_PATH": pc})
    assert out.returncode == 0, out.stderr
    libdir, path, text = out.stdout.splitlines()
    assert libdir == str(install_tree / "lib")
    assert text == mtatls.version()
    if system_library() is None:
        # Neither ld.so's search path nor LD_LIBRARY_PATH has it: pkg-config found it.
        assert path == os.path.join(libdir, _lib.soname()), path


def test_candidate_order(install_tree, monkeypatch):
    monkeypatch.delenv("MTATLS_LIB", raising=False)
    monkeypatch.setenv("PKG_CONFIG_PATH", str(install_tree / "lib" / "pkgconfig"))
    names = [c for c, _ in _lib.candidates()]
    assert _lib.soname() in names
    if shutil.which("pkg-config"):
        pc = os.path.join(str(install_tree / "lib"), _lib.soname())
        assert names.index(_lib.soname()) < names.index(pc)
    monkeypatch.setenv("MTATLS_LIB", "/x/libmtatls.so")
    assert _lib.candidates() == [("/x/libmtatls.so", "$MTATLS_LIB")]
    assert _lib.candidates("/y/lib.so") == [("/y/lib.so", "load(path)")]


# ---- result codes ----

def test_every_result_code_has_its_exception():
    results = header_results()
    assert len(results) >= 21 and ("OK", 0) in results
    assert {r.name: r.value for r in errors.Result} == dict(results)
    lib = _lib.lib()
    classes = set()
    for name, code in results:
        assert lib.mtatls_result_name(code).decode() == "MTATLS_RESULT_" + name
        assert errors.result_name(code) == "MTATLS_RESULT_" + name
        if code == 0:
            continue
        e = errors.error_for(code, "detail")
        assert (e.code, e.name, e.message, str(e)) == (code, "MTATLS_RESULT_" + name, "detail", "detail")
        group = {0: errors.UsageError, 1: errors.ParameterError, 2: errors.ContextError,
                 3: errors.SessionError}[code // 100]
        assert isinstance(e, group) and type(e) is not group, name
        classes.add(type(e))
        assert getattr(mtatls, type(e).__name__) is type(e)
    assert len(classes) == len(results) - 1  # one class per code
    # A code this binding does not know: its group's class, the library's name.
    for code, cls in ((99, errors.UsageError), (199, errors.ParameterError),
                      (299, errors.ContextError), (399, errors.SessionError), (999, errors.MtatlsError)):
        e = errors.error_for(code)
        assert type(e) is cls and e.name == "MTATLS_RESULT_UNKNOWN" == lib.mtatls_result_name(code).decode()
        assert str(e) == "MTATLS_RESULT_UNKNOWN"


def test_every_c_function_is_declared():
    with open(HEADER) as f:
        declared = set(re.findall(r"\b(mtatls_\w+)\(", f.read()))
    assert declared == set(_lib.PROTOTYPES), declared ^ set(_lib.PROTOTYPES)
