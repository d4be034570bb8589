"""Data layer: `AtomicGraph`, neighbor lists, readers, datasets and statistics."""

from .atoms import (
    LabelKeys,
    MissingLabelError,
    NonFiniteLabelError,
    atoms_from_graph,
    graph_from_atoms,
    read_label,
)
from .batching import batch_graphs, split_graph
from .dataset import GraphDataset
from .edges import apply_strain, edge_vectors
from .graph import AtomicGraph, GraphValidationError
from .neighbors import NeighborList, StructureError, check_cell_volume, check_finite, check_structure, neighbor_list
from .readers import (
    SUPPORTED_SUFFIXES,
    DataFileError,
    DataFileNotFoundError,
    MissingLabelInFileError,
    read_structure,
    read_structures,
)
from .statistics import AtomicEnergiesWarning, DatasetStatistics, compute_statistics

__all__ = [
    "SUPPORTED_SUFFIXES",
    "AtomicEnergiesWarning",
    "AtomicGraph",
    "DataFileError",
    "DataFileNotFoundError",
    "DatasetStatistics",
    "GraphDataset",
    "GraphValidationError",
    "LabelKeys",
    "MissingLabelError",
    "MissingLabelInFileError",
    "NeighborList",
    "NonFiniteLabelError",
    "StructureError",
    "apply_strain",
    "atoms_from_graph",
    "batch_graphs",
    "check_cell_volume",
    "check_finite",
    "check_structure",
    "compute_statistics",
    "edge_vectors",
    "graph_from_atoms",
    "neighbor_list",
    "read_label",
    "read_structure",
    "read_structures",
    "split_graph",
]
