"""installer/strip_libs.py: the frozen folder's libraries are stripped only where the copy still loads,
and the identical copies numpy's and scipy's wheels both carry become one file (Linux packaging)."""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import struct
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF libraries: Linux packaging only")

_spec = importlib.util.spec_from_file_location("strip_libs", PROJECT_ROOT / "installer" / "strip_libs.py")
strip_libs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(strip_libs)


def _unstripped_extension() -> Path:
    """A real unstripped extension module of the venv (PyYAML's, built with debug info)."""
    import yaml

    found = sorted(Path(yaml.__file__).parent.glob("_yaml*.so"))
    if not found:
        pytest.skip("PyYAML without its C extension here")
    return found[0]


def _shift_first_load_segment(path: Path) -> None:
    """Move the first PT_LOAD segment's file offset by one byte: what a bad strip of a patchelf'd library does."""
    data = bytearray(path.read_bytes())
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        at = phoff + i * phentsize
        if struct.unpack_from("<I", data, at)[0] == strip_libs.PT_LOAD:
            offset = struct.unpack_from("<Q", data, at + 8)[0]
            struct.pack_into("<Q", data, at + 8, offset + 1)
            break
    path.write_bytes(bytes(data))


def test_a_library_whose_load_segment_lost_its_alignment_is_refused(tmp_path):
    good = tmp_path / "good.so"
    shutil.copy2(_unstripped_extension(), good)
    assert strip_libs.load_segments_aligned(good)
    bad = tmp_path / "bad.so"
    shutil.copy2(good, bad)
    _shift_first_load_segment(bad)
    assert not strip_libs.load_segments_aligned(bad)
    with pytest.raises(OSError):  # the loader refuses it the same way
        ctypes.CDLL(str(bad))


@pytest.mark.skipif(shutil.which("strip") is None, reason="binutils' strip not installed")
def test_strip_folder_shrinks_a_real_extension_and_it_still_imports(tmp_path):
    source = _unstripped_extension()
    folder = tmp_path / "_internal" / "yaml"
    folder.mkdir(parents=True)
    lib = folder / source.name
    shutil.copy2(source, lib)
    (folder / "notes.so.txt").write_text("not an ELF file")  # named like a library: left alone

    before, after, refused = strip_libs.strip_folder(tmp_path / "_internal")

    assert refused == [] and before == source.stat().st_size and after == lib.stat().st_size < before
    assert (folder / "notes.so.txt").read_text() == "not an ELF file"
    assert not list(folder.glob("*.stripping"))
    spec = importlib.util.spec_from_file_location("_yaml", lib)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the stripped extension loads and initialises
    assert hasattr(module, "CParser")


def test_identical_libraries_of_two_wheels_become_one_file_and_different_ones_stay(tmp_path):
    numpy_libs, scipy_libs = tmp_path / "numpy.libs", tmp_path / "scipy.libs"
    numpy_libs.mkdir()
    scipy_libs.mkdir()
    (numpy_libs / "libgfortran-a.so.5").write_bytes(b"same bytes" * 100)
    (scipy_libs / "libgfortran-a.so.5").write_bytes(b"same bytes" * 100)
    (numpy_libs / "libquadmath-b.so.0").write_bytes(b"numpy's build")
    (scipy_libs / "libquadmath-b.so.0").write_bytes(b"scipy's build")  # same name, other bytes
    (scipy_libs / "libopenblas.so").write_bytes(b"only here")

    saved = strip_libs.link_duplicates(tmp_path, ("numpy.libs", "scipy.libs"))

    assert saved == len(b"same bytes" * 100)
    linked = scipy_libs / "libgfortran-a.so.5"
    assert linked.is_symlink() and str(linked.readlink()) == "../numpy.libs/libgfortran-a.so.5"
    assert linked.read_bytes() == b"same bytes" * 100
    assert not (numpy_libs / "libgfortran-a.so.5").is_symlink()
    assert (scipy_libs / "libquadmath-b.so.0").read_bytes() == b"scipy's build"
    assert not (scipy_libs / "libquadmath-b.so.0").is_symlink()
    assert (scipy_libs / "libopenblas.so").read_bytes() == b"only here"
