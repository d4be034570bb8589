"""Which model outputs a set of labels needs."""

from __future__ import annotations

from collections.abc import Iterable

from ..data import AtomicGraph

__all__ = ["graph_labels", "outputs_for_labels"]


def graph_labels(graphs: AtomicGraph | Iterable[AtomicGraph]) -> set[str]:
    """Names of the labels (per structure and per atom) that ``graphs`` (one graph, a
    batch, or several) carry."""
    graphs = [graphs] if isinstance(graphs, AtomicGraph) else graphs
    return {name for graph in graphs for name in (*graph.graph_targets, *graph.atom_targets)}


def outputs_for_labels(labels: Iterable[str], targets: Iterable[str] = ()) -> set[str]:
    """The outputs to ask a model for to compare it with ``labels``: always ``energy``
    (the others derive from it), ``forces`` and ``stress`` where labelled, and those of
    ``targets`` (outputs of model heads, by name) that are labelled."""
    labels = set(labels)
    return {"energy"} | ({"forces", "stress"} & labels) | (set(targets) & labels)
