"""Strip the symbol tables of the frozen folder's Linux shared libraries, keeping only copies the loader accepts.

Wheels ship many extension modules unstripped (about 40 MB of symbol tables in the app's folder).
``strip --strip-unneeded`` removes only what the dynamic loader never reads, but on a library that
patchelf rewrote (auditwheel's repair of numpy's OpenBLAS) GNU strip can move a load segment off its
page alignment, and the library then fails to load ("ELF load command address/offset not properly
aligned"). So each library is stripped into a copy, the copy's load segments are checked the way
the loader checks them (offset and address congruent modulo the alignment), and the original is
replaced only when the copy passes; otherwise it is kept as it was. Run by installer/ita_desktop.spec
after COLLECT (Linux only); the frozen smoke then loads the libraries for real.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

PT_LOAD = 1


def load_segments_aligned(path: Path) -> bool:
    """True when every PT_LOAD segment of the ELF64 file has offset == address modulo its alignment."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # ELF64 only (the app is x86-64)
        return False
    endian = "<" if data[5] == 1 else ">"
    phoff = struct.unpack_from(endian + "Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, _filesz, _memsz, p_align = struct.unpack_from(
            endian + "IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == PT_LOAD and p_align > 1 and (p_offset - p_vaddr) % p_align:
            return False
    return True


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def strip_folder(folder: Path, strip: str = "strip") -> tuple[int, int, list[str]]:
    """Strip every ELF library under ``folder`` in place where the stripped copy stays loadable.

    Returns (bytes before, bytes after, libraries kept unstripped because their copy failed the check)."""
    before = after = 0
    refused: list[str] = []
    for lib in sorted(folder.rglob("*.so*")):
        if lib.is_symlink() or not lib.is_file() or not _is_elf(lib):
            continue
        size = lib.stat().st_size
        before += size
        trial = lib.with_name(lib.name + ".stripping")
        shutil.copy2(lib, trial)
        done = subprocess.run([strip, "--strip-unneeded", str(trial)], capture_output=True).returncode == 0
        if done and load_segments_aligned(trial) and trial.stat().st_size <= size:
            trial.replace(lib)
        else:
            trial.unlink()
            refused.append(str(lib.relative_to(folder)))
        after += lib.stat().st_size
    return before, after, refused


def link_duplicates(folder: Path, parts: tuple[str, ...]) -> int:
    """Replace byte-identical libraries that several wheels' ``*.libs`` folders each carry (numpy's and
    scipy's libgfortran/libquadmath) by a relative symlink to the first copy; returns the bytes saved."""
    seen: dict[tuple[str, bytes], Path] = {}
    saved = 0
    for part in parts:
        for lib in sorted((folder / part).glob("*.so*")):
            if lib.is_symlink() or not lib.is_file():
                continue
            key = (lib.name, lib.read_bytes())
            first = seen.setdefault(key, lib)
            if first is not lib:
                saved += lib.stat().st_size
                lib.unlink()
                lib.symlink_to(Path("..") / first.parent.name / first.name)
    return saved
