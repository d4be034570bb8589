"""PNG figures of simulations: MD traces (energies, temperature, volume and pressure) and
NEB minimum energy paths. Built on an Agg canvas (no pyplot, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._output import MDResult
from .neb import NEBResult

__all__ = ["plot_md", "plot_minimum_energy_path"]


def plot_md(result: MDResult, path: str | os.PathLike, title: str | None = None) -> Path:
    """Panels against time (fs): energies relative to the initial total energy (eV/atom),
    temperature (K, with the target), and either the total-energy drift (meV/atom, NVE)
    or the volume (Å³/atom) and pressure (GPa, with the target; NPT). Returns the PNG path."""
    times = result.times_fs
    if times.size == 0:
        raise ValueError("plot_md: the run has no frames")
    npt = result.volume_A3 is not None and result.pressure_GPa is not None
    n_panels = 4 if npt else 3
    from ..plots._figure import legend_outside, new_figure, save_figure  # matplotlib only when plotting

    figure, axes = new_figure(n_panels, 1, size=(6.4, 2.4))
    per_atom = 1.0 / result.n_atoms
    reference = result.total_energy[0]
    for label, values in (("potential - E_total(0)", result.potential_energy - reference),
                          ("kinetic", result.kinetic_energy), ("total - E_total(0)", result.total_energy - reference)):
        axes[0].plot(times, values * per_atom, label=label, linewidth=1.1)
    axes[0].set_ylabel("energy (eV/atom)")
    legend_outside(axes[0])
    axes[0].set_title(title or f"{result.ensemble.upper()} MD, {result.n_atoms} atoms, dt = {result.timestep_fs:g} fs")
    axes[1].plot(times, result.temperature_K, color="tab:red", linewidth=1.0)
    if result.target_temperature_K is not None:
        axes[1].axhline(result.target_temperature_K, color="black", linestyle="--", linewidth=0.8, label="target")
        legend_outside(axes[1])
    axes[1].set_ylabel("temperature (K)")
    if npt:
        assert result.volume_A3 is not None and result.pressure_GPa is not None
        axes[2].plot(times, result.volume_A3 * per_atom, color="tab:green", linewidth=1.0)
        axes[2].set_ylabel("volume (Å³/atom)")
        axes[3].plot(times, result.pressure_GPa, color="tab:purple", linewidth=0.8)
        if result.target_pressure_GPa is not None:
            axes[3].axhline(result.target_pressure_GPa, color="black", linestyle="--", linewidth=0.8, label="target")
            legend_outside(axes[3])
        axes[3].set_ylabel("pressure (GPa)")
    else:
        drift = result.total_energy if result.conserved_energy is None else result.conserved_energy
        label = "total" if result.conserved_energy is None else "conserved"
        axes[2].plot(times, 1000.0 * (drift - drift[0]) * per_atom, color="black", linewidth=1.0)
        axes[2].set_ylabel(f"{label} - initial (meV/atom)")
        if result.ensemble == "nve" or result.conserved_energy is not None:
            axes[2].set_title(f"drift {1000.0 * result.conserved_drift_per_atom_per_ps:.3g} meV/atom/ps", fontsize=9)
    for axis in axes:
        axis.grid(True, alpha=0.3)
    axes[-1].set_xlabel("time (fs)")
    return save_figure(figure, path)


def plot_minimum_energy_path(result: NEBResult, path: str | os.PathLike, title: str | None = None) -> Path:
    """Energy (eV, relative to the initial state) along the reaction coordinate (Å): image
    energies as points, the force-informed cubic fit as a line, the highest image marked,
    barriers and reaction energy in the title. Returns the PNG path."""
    from ..plots._figure import new_figure, save_figure  # matplotlib only when plotting

    figure, axes = new_figure(1, 1, size=(5.6, 3.8))
    axis = axes[0]
    relative = result.relative_energies
    axis.plot(result.fit_path, result.fit_energies, color="black", linewidth=1.2, label="fit (energies + forces)")
    axis.plot(result.path, relative, "o", color="tab:blue", label="images")
    top = result.highest_image
    axis.plot(result.path[top], relative[top], "o", markersize=10, markerfacecolor="none", color="tab:red",
              label="climbing image" if result.climb else "highest image")
    axis.axhline(0.0, color="grey", linewidth=0.6)
    axis.set_xlabel("reaction coordinate (Å)")
    axis.set_ylabel("E - E(initial) (eV)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    status = "" if result.converged else " (not converged)"
    summary = (f"barrier {result.barrier_forward:.3f} eV forward, {result.barrier_backward:.3f} eV backward"
               if result.reliable else "no barrier: unphysical band (see NEBResult.problems)")
    axis.set_title(title or f"{summary}; ΔE = {result.reaction_energy:.3f} eV{status}", fontsize=9)
    span = np.ptp(np.concatenate([relative, result.fit_energies]))
    axis.set_ylim(min(relative.min(), result.fit_energies.min()) - 0.08 * span - 1e-3,
                  max(relative.max(), result.fit_energies.max()) + 0.12 * span + 1e-3)
    return save_figure(figure, path)
