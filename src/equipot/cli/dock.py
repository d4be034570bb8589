"""``equipot dock``: rigid docking of a guest molecule onto a fixed host on the model's energy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import ase.io
import numpy as np
import torch
import typer
from rich.table import Table

from ..data import read_structure
from ..potential_files import load_potential
from ..properties.docking import dock as dock_pose
from ..properties.docking import pose_scan
from ._console import ProgressOption, console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def dock(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    host: Annotated[Path, typer.Argument(help="fixed molecule or cluster (non-periodic), any file ASE reads")],
    guest: Annotated[Path, typer.Argument(help="rigid molecule to place, any file ASE reads")],
    starts: Annotated[int, typer.Option(help="random starting poses, each minimised with L-BFGS on SE(3)")] = 8,
    distance: Annotated[float | None, typer.Option(help="start distance of the centroids (Å; default: radii + 1.5 Å)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the starting poses")] = 0,
    scan: Annotated[int, typer.Option(help="also scan N rotations x 2N directions x 3 distances by brute force (0: no scan)")] = 0,
    out_dir: Annotated[Path, typer.Option(help="folder for docked.xyz and dock.json")] = Path("dock"),
    progress: ProgressOption = True,
) -> None:
    """Dock the rigid GUEST onto the fixed HOST from several starts; write docked.xyz and dock.json."""
    potential = load_potential(model, dtype=torch.float64)
    host_atoms, guest_atoms = read_structure(host), read_structure(guest)
    host_atoms.pbc = guest_atoms.pbc = False
    with working(f"docking {guest.name} onto {host.name} from {starts} starts"):
        result = dock_pose(potential, host_atoms, guest_atoms, n_starts=starts, distance=distance, seed=seed)
    table = Table(title=f"{guest.name} on {host.name} with {model.name}")
    for column in ("start", "energy (eV)", "L-BFGS steps"):
        table.add_column(column, justify="right")
    for index, (value, steps) in enumerate(zip(result.start_energies, result.start_steps)):
        table.add_row(str(index), f"{value:.5f}" if np.isfinite(value) else "collapsed into the host", str(steps))
    console.print(table)
    console.print(f"best: E = {result.energy:.5f} eV, interaction energy {result.interaction_energy:.5f} eV "
                  f"({result.n_energy_calls} energy calls)")
    summary = {
        "energy_eV": result.energy, "interaction_energy_eV": result.interaction_energy,
        "rotation": result.rotation.tolist(), "translation_A": result.translation.tolist(),
        # null: a start that pulled the guest into the host (properties.docking.CLASH_FRACTION)
        "start_energies_eV": [float(v) if np.isfinite(v) else None for v in result.start_energies], "start_steps": result.start_steps,
        "n_energy_calls": result.n_energy_calls,
    }
    if scan > 0:
        with working(f"scanning {scan * 2 * scan * 3} poses"):
            reference = pose_scan(potential, host_atoms, guest_atoms, n_rotations=scan, n_directions=2 * scan,
                                  distances=_scan_distances(host_atoms, guest_atoms), seed=seed)
        console.print(f"brute-force scan: lowest E = {reference.energy:.5f} eV over {reference.n_poses} poses; "
                      f"docking is {reference.energy - result.energy:+.5f} eV below it")
        summary.update(scan_energy_eV=reference.energy, scan_poses=reference.n_poses)
    out_dir.mkdir(parents=True, exist_ok=True)
    ase.io.write(out_dir / "docked.xyz", result.atoms)
    (out_dir / "dock.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out_dir / 'docked.xyz'} and {out_dir / 'dock.json'}")


def _scan_distances(host, guest) -> tuple[float, ...]:
    radii = [float(np.linalg.norm(a.positions - a.positions.mean(0), axis=1).max()) for a in (host, guest)]
    contact = sum(radii)
    return (contact + 1.0, contact + 1.5, contact + 2.0)
