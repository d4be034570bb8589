"""Which cheap force uncertainty ranks force errors? Candidate local rules against the
exact last-layer force variance, on one trained ethanol model.

    python scripts/force_uncertainty_rules.py runs/uq_study/committee/member_0/model.pt

The estimators are fitted (`fit_last_layer_uncertainty`) on frames 0-1099 step 2 of
``shipped:ethanol`` and calibrated on 1100-1199; frames 1200-1499 (500 K) and
``shipped:ethanol_1000K`` are the test sets. Per candidate: Spearman rho against
|F_i - F_i,ref| per atom, of the RMS over atoms against the RMS force error per
structure, and the mean on 1000 K frames over that on 500 K frames. Candidates, with
``phi_i`` the last-layer features, ``C`` the covariance of training *structure* sums and
``A`` that of training *atoms* (docs/uncertainty.md):

- ``self_C``: ``phi_j^T C^-1 phi_j``;
- ``neighbourhood_C``: ``Phi_j^T C^-1 Phi_j``, ``Phi_j = phi_j + sum_{i->j} u(r_ij) phi_i``
  (cutoff envelope ``u``): the variance of the neighbourhood's energy;
- ``neighbour_sum_C``: ``sum_{i in j and its neighbours} u(r_ij) phi_i^T C^-1 phi_i``;
- ``forces_std``: ``phi_j^T A^-1 phi_j``, the library's local estimate;
- ``exact_rank4``, ``exact_rank8``, ``forces_std_exact``: the Jacobian variance over the
  4, 8 or all K directions of largest ``C^-1`` eigenvalue.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.stats import spearmanr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a trained ethanol model file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from equipot.data import GraphDataset, batch_graphs
    from equipot.data.shipped import resolve_data_path
    from equipot.models.io import load_model
    from equipot.uq import LastLayerUncertainty, UncertaintyPotential, fit_last_layer_uncertainty
    from equipot.uq.features import model_features

    model = load_model(args.model, dtype=torch.float64).eval()
    ethanol = GraphDataset.from_file(resolve_data_path("shipped:ethanol"), model.cutoff)
    hot = GraphDataset.from_file(resolve_data_path("shipped:ethanol_1000K"), model.cutoff)
    estimator = fit_last_layer_uncertainty(model, ethanol.graphs[:1100:2], ethanol.graphs[1100:1200], batch_size=32)
    potential = UncertaintyPotential(model, estimator).eval()
    low_rank = {rank: UncertaintyPotential(model, LastLayerUncertainty.from_state({**estimator.state(), "force_rank": rank})).eval()
                for rank in (4, 8)}
    inverse = estimator.covariance_inverse

    def variance(features: torch.Tensor) -> torch.Tensor:
        return ((features @ inverse) * features).sum(-1).clamp(min=0)

    def collect(graphs) -> dict[str, np.ndarray]:
        columns: dict[str, list[torch.Tensor]] = {}
        for start in range(0, len(graphs), 16):
            graph = batch_graphs(graphs[start : start + 16])
            out = potential(graph, outputs={"forces", "forces_std", "forces_std_exact"})
            phi = model_features(model, graph, graph.positions, graph.cell).last_layer.detach()
            edges = model.edge_context(graph, graph.positions, graph.cell)
            weights = edges.envelope.detach().unsqueeze(-1)
            own = variance(phi)
            values = {
                "error": (out.forces - graph.atom_targets["forces"]).square().sum(-1),
                "self_C": own,
                "neighbourhood_C": variance(phi.index_add(0, edges.receivers, phi.index_select(0, edges.senders) * weights)),
                "neighbour_sum_C": own.index_add(0, edges.receivers, own.index_select(0, edges.senders) * weights[:, 0]),
                "forces_std": out.extra["forces_std"].square(),
                "forces_std_exact": out.extra["forces_std_exact"].square(),
                "structure": graph.batch + start,
            }
            for rank, wrapped in low_rank.items():
                values[f"exact_rank{rank}"] = wrapped(graph, outputs={"forces_std_exact"}).extra["forces_std_exact"].square()
            for name, value in values.items():
                columns.setdefault(name, []).append(value.detach())
        return {name: torch.cat(value).numpy() for name, value in columns.items()}

    cold, warm = collect(ethanol.graphs[1200:]), collect(hot.graphs)

    def per_structure(table: dict[str, np.ndarray], name: str) -> np.ndarray:
        index = table["structure"]
        return np.sqrt(np.bincount(index, table[name]) / np.bincount(index))

    print(f"{'candidate':18s} {'rho/atom':>9s} {'rho/struct':>11s} {'1000K/500K':>11s}")
    for name in ("self_C", "neighbourhood_C", "neighbour_sum_C", "forces_std", "exact_rank4", "exact_rank8", "forces_std_exact"):
        per_atom = spearmanr(cold[name], cold["error"])[0]
        structures = spearmanr(per_structure(cold, name), per_structure(cold, "error"))[0]
        ratio = np.sqrt(warm[name]).mean() / np.sqrt(cold[name]).mean()
        print(f"{name:18s} {per_atom:9.3f} {structures:11.3f} {ratio:11.3f}")
    ratio = np.sqrt(warm["error"]).mean() / np.sqrt(cold["error"]).mean()
    print(f"force error 1000K/500K: {ratio:.3f}")


if __name__ == "__main__":
    main()
