"""``equipot polymorphs``: phase ranking against EMT and the energy error as structures leave the crystal."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import torch
import typer
from ase.calculators.emt import EMT

from ..potential_files import load_potential
from ..properties.polymorphs import (
    PHASES,
    disorder_errors,
    disorder_structures,
    plot_disorder_errors,
    polymorph_ranking,
    ranking_table,
)
from ._console import ProgressOption, console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def polymorphs(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    element: Annotated[str, typer.Option(help="element of the phases (EMT knows Al, Cu, Ag, Au, Ni, Pd, Pt)")] = "Cu",
    phase: Annotated[list[str] | None, typer.Option(help=f"phases to compare (default: {' '.join(PHASES)})")] = None,
    lattice: Annotated[float, typer.Option(help="fcc lattice constant of the disorder frames (Å)")] = 3.61,
    md_steps: Annotated[int, typer.Option(help="Langevin steps (2 fs) of each heated frame and of the melt")] = 200,
    quench_steps: Annotated[int, typer.Option(help="cooling steps of the melt-quenched cell")] = 400,
    seed: Annotated[int, typer.Option(help="seed of the MD velocities and noise")] = 0,
    out_dir: Annotated[Path, typer.Option(help="folder for polymorphs.md, polymorphs.json and disorder.png")] = Path(
        "polymorphs"
    ),
    progress: ProgressOption = True,
) -> None:
    """Rank fcc, bcc, hcp and sc phases against EMT (relaxed, with volume); error vs descriptor distance (disorder.png)."""
    potential = load_potential(model, dtype=torch.float64)
    phases = tuple(phase or PHASES)
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f"--phase {unknown[0]!r} is not known; choose from {list(PHASES)}")
    with working(f"relaxing {len(phases)} phases of {element} with {model.name} and with EMT"):
        rows = polymorph_ranking(potential, EMT(), element=element, phases=phases)
    table = ranking_table(rows)
    console.print(table, highlight=False)
    with working("building strained, heated and melt-quenched cells with EMT"):
        frames = disorder_structures(EMT(), element=element, a=lattice, md_steps=md_steps, quench_steps=quench_steps,
                                     seed=seed)
        frames = disorder_errors(potential, EMT(), frames)
    console.print("| structure | descriptor distance | energy error (meV/atom) |\n| --- | --- | --- |", highlight=False)
    for frame in frames:
        console.print(f"| {frame.label} | {frame.distance:.3f} | {1000 * frame.error:+.1f} |", highlight=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "polymorphs.md").write_text(table + "\n", encoding="utf-8")
    summary = {
        "phases": [{**asdict(row), "error": row.error} for row in rows],
        "disorder": [{"kind": f.kind, "label": f.label, "error": f.error, "distance": f.distance} for f in frames],
    }
    (out_dir / "polymorphs.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot = plot_disorder_errors(frames, out_dir / "disorder.png", title=f"{element}: {model.stem} vs EMT")
    console.print(f"wrote {out_dir / 'polymorphs.md'}, {out_dir / 'polymorphs.json'}, {plot}")
