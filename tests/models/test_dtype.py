"""float32 and float64 models, and graphs in the other precision."""

import torch
from ase.build import bulk

from equipot import EquivariantPotential, graph_from_atoms


def test_graph_in_other_dtype_is_cast_to_the_models():
    torch.manual_seed(0)
    model32 = EquivariantPotential(species=["Cu"], cutoff=4.0, num_channels=8)
    model64 = model32.converted(torch.float64)
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    atoms.rattle(0.05, seed=3)
    graph64 = graph_from_atoms(atoms, model32.cutoff)  # float64 by default
    out32 = model32(graph64, outputs={"energy", "forces", "stress"})
    out64 = model64(graph64, outputs={"energy", "forces", "stress"})
    assert out32.forces.dtype == torch.float32 and out64.forces.dtype == torch.float64
    torch.testing.assert_close(out32.energy.double(), out64.energy, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out32.forces.double(), out64.forces, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out32.stress.double(), out64.stress, rtol=1e-4, atol=1e-6)
