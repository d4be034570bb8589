"""``equipot features``: invariant per-atom and per-structure features for downstream ML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ..data.readers import read_structures
from ..data.shipped import resolve_data_path
from ..potential_files import load_potential
from ..uq import invariant_features
from ._console import console, user_errors, working


@user_errors
def features(
    model: Annotated[Path, typer.Argument(help="model file (model.pt, with or without estimators)")],
    data: Annotated[Path, typer.Argument(help="structures: any file ASE reads, or shipped:NAME")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the .npz file to write")] = Path("features.npz"),
    reduce: Annotated[str, typer.Option(help="per-structure features: mean or sum over the atoms")] = "mean",
) -> None:
    """Invariant features (0e channels of the final layer) per atom and per structure, as .npz."""
    if reduce not in ("mean", "sum"):
        raise ValueError(f"--reduce must be mean or sum, got {reduce!r}")
    potential = load_potential(model)
    structures = read_structures(resolve_data_path(str(data)))
    with working(f"features of {len(structures)} structures"):
        per_atom, per_structure = invariant_features(potential, structures, reduce=reduce)
    atoms_per_structure = np.array([len(atoms) for atoms in structures])
    np.savez(
        output,
        per_atom=per_atom,
        per_structure=per_structure,
        structure_index=np.repeat(np.arange(len(structures)), atoms_per_structure),
        atomic_numbers=np.concatenate([atoms.numbers for atoms in structures]),
        reduce=np.array(reduce),
    )
    console.print(
        f"{per_atom.shape[0]} atoms x {per_atom.shape[1]} features, {per_structure.shape[0]} structures "
        f"({reduce} over atoms): {output}"
    )
