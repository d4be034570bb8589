"""Chirality: what O(3) and SO(3) models can and cannot tell apart.

Bromochlorofluoromethane (CHFClBr) is chiral: its mirror image cannot be rotated onto it.
An O(3)-equivariant model gives a molecule and its mirror image the same invariant
(energy-like) outputs and opposite pseudoscalar (0o) outputs. A property that differs
between enantiomers must therefore be learned either as a pseudoscalar of an O(3) model or
by an SO(3)-only model (parity=False), whose scalars may differ between mirror images.
"""

import numpy as np
import pytest
import torch
from ase import Atoms

from equipot import EquivariantPotential
from equipot.data import batch_graphs, graph_from_atoms
from equipot.testing import assert_equivariant, evaluate, random_rotation, rotate_atoms

SPECIES = ["H", "C", "F", "Cl", "Br"]
MIRROR = np.diag([-1.0, 1.0, 1.0])


def chfclbr() -> Atoms:
    """CHFClBr with tetrahedral bond directions and typical bond lengths (Å)."""
    directions = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
    lengths = np.array([1.09, 1.35, 1.77, 1.94])[:, None]  # C-H, C-F, C-Cl, C-Br
    return Atoms("CHFClBr", positions=np.vstack([[0.0, 0.0, 0.0], directions * lengths]))


def small_model(parity: bool, irreps: str, hidden: str, **head: object) -> EquivariantPotential:
    torch.manual_seed(0)
    return EquivariantPotential(
        species=SPECIES, cutoff=4.0, hidden_irreps=hidden, lmax=2, num_layers=2, correlation=2,
        radial_hidden=16, num_radial_basis=6, readout_hidden=4, parity=parity,
        heads=[{"name": "handedness", "kind": "irreps", "irreps": irreps, **head}], dtype=torch.float64,
    )


def test_mirror_images_same_energy_opposite_pseudoscalar():
    model = small_model(True, "0o", "4x0e+4x0o+4x1o+4x1e", scale=1e3)
    model.set_normalization(scale=2.0, shift=0.1)
    molecule = chfclbr()
    mirror = rotate_atoms(molecule, MIRROR)
    here = evaluate(model, molecule, ["energy", "handedness"])
    there = evaluate(model, mirror, ["energy", "handedness"])
    np.testing.assert_allclose(there["energy"], here["energy"], rtol=1e-12)
    assert abs(here["handedness"][0]) > 1e-4  # chirality is seen ...
    np.testing.assert_allclose(there["handedness"], -here["handedness"], rtol=1e-10)  # ... with a sign
    # a proper rotation is not a mirror: it changes nothing
    assert_equivariant(model, molecule, ["energy", "forces", "handedness"], trials=1)


@pytest.fixture(scope="module")
def enantiomers() -> tuple[list[Atoms], torch.Tensor]:
    """8 randomly distorted and rotated CHFClBr molecules (label +1) and their exact mirror
    images (label -1)."""
    rng = np.random.default_rng(0)
    frames, labels = [], []
    for _ in range(8):
        molecule = chfclbr()
        molecule.positions += rng.normal(scale=0.05, size=molecule.positions.shape)
        molecule = rotate_atoms(molecule, random_rotation(rng))
        frames += [molecule, rotate_atoms(molecule, MIRROR)]
        labels += [1.0, -1.0]
    return frames, torch.tensor(labels, dtype=torch.float64)


def fit_handedness(model: EquivariantPotential, frames: list[Atoms], labels: torch.Tensor, steps: int = 150,
                   lr: float = 0.02) -> torch.Tensor:
    """Full-batch Adam on the squared error of the head; returns the final predictions."""
    graph = batch_graphs([graph_from_atoms(atoms, model.cutoff) for atoms in frames])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = (model(graph, outputs={"handedness"}).extra["handedness"][:, 0] - labels).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return model(graph, outputs={"handedness"}).extra["handedness"][:, 0]


def test_so3_model_learns_handedness_and_o3_invariant_model_cannot(enantiomers):
    """The target is +1 for each distorted molecule and -1 for its mirror image.

    An O(3) model's invariant (0e) output is a function of distances and angles only, which
    are the same for a structure and its mirror image: it predicts the same value f for
    both, so the pair's absolute errors |f - 1| + |f + 1| add up to at least 2 and the MAE
    can never drop below 1 (the spread of the target), however long it trains. An SO(3)
    model (parity=False: no reflection symmetry, features may contain triple products
    a . (b x c)) has invariant outputs that differ between mirror images and fits the labels.
    """
    frames, labels = enantiomers
    so3 = fit_handedness(small_model(False, "0e", "4x0e+4x1o", scale=1.0), frames, labels)
    assert float((so3 - labels).abs().mean()) < 0.2

    o3 = fit_handedness(small_model(True, "0e", "4x0e+4x1o", scale=1.0), frames, labels)
    assert float((o3[0::2] - o3[1::2]).abs().max()) < 1e-10  # mirror images: identical predictions
    assert float((o3 - labels).abs().mean()) >= 1.0 - 1e-9  # stuck at the target's spread


def test_o3_model_learns_handedness_as_a_pseudoscalar(enantiomers):
    """The O(3) way: handedness is a pseudoscalar, and a 0o head fits it."""
    frames, labels = enantiomers
    # lr 0.005: at 0.02 (with the variance-preserving radial init) the fit collapses to 0 (MAE 1.0)
    predictions = fit_handedness(small_model(True, "0o", "4x0e+4x1o+4x1e", scale=1.0), frames, labels, lr=0.005)
    assert float((predictions - labels).abs().mean()) < 0.2
    np.testing.assert_allclose(predictions[0::2].numpy(), -predictions[1::2].numpy(), rtol=1e-9)
