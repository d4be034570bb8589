"""Reference datasets shipped inside the package (gzipped extxyz, read with ASE).

| name            | file                               | frames | labels                   |
| --------------- | ---------------------------------- | ------ | ------------------------ |
| ``ethanol``       | ``ethanol_gfn2xtb.xyz.gz``       | 1500   | energy, forces, dipole   |
| ``ethanol_1000K`` | ``ethanol_gfn2xtb_1000K.xyz.gz`` | 200    | energy, forces, dipole   |
| ``ethanol_polarizability`` | ``ethanol_gfn2xtb_polarizability.xyz.gz`` | 1500 | + polarizability |
| ``cu``            | ``cu_emt.xyz.gz``                | 700    | energy, forces, stress   |
| ``cu_cold``       | ``cu_emt_cold.xyz.gz``           | 200    | energy, forces, stress   |

Units are ASE's: energy in eV, forces in eV/Å, stress in eV/Å³ (ASE sign, Voigt order
xx, yy, zz, yz, xz, xy), dipole in e·Å, positions and cell in Å.

Read them with `read_shipped_dataset` (seconds). ``ase.io.read(path, index=":")`` gives
the same frames but is slow on these files: ASE's extxyz reader seeks back to each frame,
and every backward seek in a gzip stream decompresses again from the start, so the time
grows with the square of the file (about a minute for the 1500-frame ethanol set).

When read with ASE, every label, ``dipole`` included, lands
in ``atoms.calc.results`` (a ``SinglePointCalculator``; ``atoms.get_dipole_moment()``
works), not in ``atoms.info``: ASE's extxyz reader moves every per-frame key it knows as
a calculator property there. Each file has a provenance JSON next to it
(``<stem>.json``); ``docs/data.md`` says how the data were made and how to regenerate
them.

Example::

    >>> frames = read_shipped_dataset("ethanol_1000K")
    >>> len(frames), frames[0].get_dipole_moment().shape
    (200, (3,))
"""

from __future__ import annotations

import importlib.resources
import pathlib
from typing import NamedTuple

from ase import Atoms

from .readers import read_structures

__all__ = ["GFN2_XTB_ISOLATED_ATOM_ENERGIES", "SHIPPED_DATASETS", "ShippedDataset", "read_shipped_dataset", "resolve_data_path", "shipped_dataset_path"]


#: energies (eV) of single H, C and O atoms in vacuum with tblite's GFN2-xTB at its default
#: settings, the settings of the shipped ethanol sets: their reference energies (E0), which
#: ethanol frames alone cannot separate (every frame has 6 H, 2 C, 1 O). Give them as
#: ``atomic_energies`` when training on those sets (the demo does). Recomputed by
#: ``python scripts/generate_ethanol_xtb.py --isolated-atoms`` and checked by the tests.
GFN2_XTB_ISOLATED_ATOM_ENERGIES: dict[str, float] = {"H": -10.707211, "C": -48.847445, "O": -102.571173}


class ShippedDataset(NamedTuple):
    """A dataset file inside ``equipot/datasets`` and what it holds."""

    filename: str
    description: str


SHIPPED_DATASETS: dict[str, ShippedDataset] = {
    "ethanol": ShippedDataset(
        "ethanol_gfn2xtb.xyz.gz",
        "ethanol (9 atoms, non-periodic), 1500 frames of GFN2-xTB (tblite) Langevin MD at "
        "500 K; energy [eV], forces [eV/Å], dipole [e·Å]",
    ),
    "ethanol_1000K": ShippedDataset(
        "ethanol_gfn2xtb_1000K.xyz.gz",
        "ethanol (9 atoms, non-periodic), 200 frames of GFN2-xTB (tblite) Langevin MD at "
        "1000 K, for extrapolation tests; energy [eV], forces [eV/Å], dipole [e·Å]",
    ),
    "ethanol_polarizability": ShippedDataset(
        "ethanol_gfn2xtb_polarizability.xyz.gz",
        "the first 1500 frames of 'ethanol' with GFN2-xTB finite-field polarizabilities "
        "[Å³, 3x3 in atoms.info] besides energy [eV], forces [eV/Å], dipole [e·Å]",
    ),
    "cu": ShippedDataset(
        "cu_emt.xyz.gz",
        "fcc Cu (108 atoms, periodic), 700 frames of EMT Langevin MD at 300-1200 K, each "
        "with a random symmetric strain up to ±3%; energy [eV], forces [eV/Å], "
        "stress [eV/Å³, Voigt]",
    ),
    "cu_cold": ShippedDataset(
        "cu_emt_cold.xyz.gz",
        "fcc Cu (108 atoms, periodic), 200 frames of EMT Langevin MD at 20-200 K, each "
        "with a random symmetric strain up to ±2% (near-perfect lattices, for elastic "
        "constants and phonons); energy [eV], forces [eV/Å], stress [eV/Å³, Voigt]",
    ),
}


def shipped_dataset_path(name: str) -> pathlib.Path:
    """Path of the shipped dataset ``name`` (one of the keys of `SHIPPED_DATASETS`).

    Raises:
        ValueError: ``name`` is not a shipped dataset; the message lists the valid names.
        FileNotFoundError: the package was installed without its data files.
    """
    if name not in SHIPPED_DATASETS:
        valid = ", ".join(repr(key) for key in SHIPPED_DATASETS)
        raise ValueError(f"unknown shipped dataset {name!r}; valid names are: {valid}")
    filename = SHIPPED_DATASETS[name].filename
    # one joinpath argument at a time: Python 3.10's Traversable takes a single child
    resource = importlib.resources.files("equipot").joinpath("datasets").joinpath(filename)
    path = pathlib.Path(str(resource))  # a real file for regular and editable installs
    if not path.is_file():
        raise FileNotFoundError(
            f"shipped dataset {name!r} not found at {path}; was equipot installed without "
            "its package data (datasets/*.xyz.gz)?"
        )
    return path


def read_shipped_dataset(name: str, index: str | int = ":") -> list[Atoms] | Atoms:
    """Read the shipped dataset ``name`` with ASE, decompressing it in memory first.

    Args:
        name: one of the keys of `SHIPPED_DATASETS`.
        index: ASE's frame selection; ``":"`` (default) gives all frames as a list.

    Returns:
        ``ase.Atoms`` with a ``SinglePointCalculator`` holding the labels (energy [eV],
        forces [eV/Å], and dipole [e·Å] or stress [eV/Å³, Voigt]), a list for a slice.
    """
    # read_structures decompresses in memory first (see its module for why)
    frames = read_structures(shipped_dataset_path(name), index=index)
    return frames[0] if isinstance(index, int) else frames


def resolve_data_path(name: str) -> pathlib.Path:
    """A data file path; ``"shipped:NAME"`` is the shipped dataset NAME (e.g. ``shipped:ethanol``)."""
    if name.startswith("shipped:"):
        return shipped_dataset_path(name.removeprefix("shipped:"))
    return pathlib.Path(name)
