"""``equipot uncertainty fit``: attach single-model uncertainty estimators to a trained model."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..data import GraphDataset, LabelKeys
from ..data.shipped import resolve_data_path
from ..models.io import load_model
from ..uq import UncertaintyPotential, fit_descriptor_distances, fit_last_layer_uncertainty, save_uncertainty_model
from ._console import console, user_errors, working


class Action(str, Enum):
    fit = "fit"


def _dataset(path: Path, cutoff: float, dtype, energy_key: str, forces_key: str) -> GraphDataset:
    keys = LabelKeys(energy=energy_key, forces=forces_key)
    return GraphDataset.from_file(resolve_data_path(str(path)), cutoff, keys=keys, require=("energy",), dtype=dtype)


@user_errors
def uncertainty(
    action: Annotated[Action, typer.Argument(help="fit: fit the estimators on TRAIN and write them into -o")],
    model: Annotated[Path, typer.Argument(help="trained model file (model.pt)")],
    train: Annotated[Path, typer.Argument(help="the training structures with energy labels (file or shipped:NAME)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="model file to write, with the estimators")],
    valid: Annotated[
        Path | None, typer.Option(help="validation structures that calibrate the variance (default: TRAIN, in-sample)")
    ] = None,
    max_reference: Annotated[int, typer.Option(help="training atoms kept for the nearest-neighbour distance")] = 20_000,
    percentile: Annotated[float, typer.Option(help="percentile of training distances that sets the threshold")] = 99.0,
    force_rank: Annotated[
        int | None, typer.Option(help="eigen-directions for forces_std_exact (default: all K, exact; fewer is faster)")
    ] = None,
    energy_key: Annotated[str, typer.Option(help="label key of the energy (eV)")] = "energy",
    forces_key: Annotated[str, typer.Option(help="label key of the forces (eV/Å)")] = "forces",
) -> None:
    """Attach uncertainty estimators (last-layer variance, descriptor distances) to MODEL."""
    if output.resolve() == model.resolve():
        raise ValueError(f"-o {output} would overwrite the model it reads; choose another file, e.g. model_uq.pt")
    network = load_model(model)
    with working(f"reading {train.name}"):
        train_set = _dataset(train, network.cutoff, network.dtype, energy_key, forces_key)
        valid_set = _dataset(valid, network.cutoff, network.dtype, energy_key, forces_key) if valid is not None else None
    with working("fitting the last-layer variance"):
        last_layer = fit_last_layer_uncertainty(network, train_set, valid_set, force_rank=force_rank)
    with working("fitting descriptor distances"):
        descriptors = fit_descriptor_distances(network, train_set, max_reference=max_reference, percentile=percentile)
    potential = UncertaintyPotential(network, last_layer, descriptors)
    save_uncertainty_model(potential, output)
    table = Table(title=f"uncertainty estimators of {model.name}", show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("last-layer features K", str(last_layer.width))
    table.add_row("calibrated on", last_layer.calibration)
    table.add_row(
        "alpha (energy, forces, forces exact)",
        f"{float(last_layer.alpha_energy):.4g}, {float(last_layer.alpha_forces):.4g}, {float(last_layer.alpha_forces_exact):.4g}",
    )
    table.add_row("regularization lambda (structures, atoms)", f"{last_layer.regularization:.3g}, {last_layer.atom_regularization:.3g}")
    table.add_row("reference atoms", str(descriptors.reference.shape[0]))
    table.add_row(f"NN-distance threshold (p{percentile:g})", f"{float(descriptors.nearest_threshold):.4g}")
    table.add_row(f"Mahalanobis threshold (p{percentile:g})", f"{float(descriptors.mahalanobis_threshold):.4g}")
    console.print(table)
    console.print(f"model with estimators: {output}")
