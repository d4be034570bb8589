"""Data layer: `AtomicGraph`, neighbor lists, readers, datasets and statistics."""

from .atoms import LabelKeys, MissingLabelError, atoms_from_graph, graph_from_atoms, read_label
from .batching import batch_graphs, split_graph
from .dataset import GraphDataset
from .edges import apply_strain, edge_vectors
from .graph import AtomicGraph, GraphValidationError
from .neighbors import NeighborList, StructureError, check_structure, neighbor_list
from .readers import (
    SUPPORTED_SUFFIXES,
    DataFileError,
    DataFileNotFoundError,
    MissingLabelInFileError,
    read_structures,
)
from .statistics import DatasetStatistics, compute_statistics

__all__ = [
    "SUPPORTED_SUFFIXES",
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
    "StructureError",
    "apply_strain",
    "atoms_from_graph",
    "batch_graphs",
    "check_structure",
    "compute_statistics",
    "edge_vectors",
    "graph_from_atoms",
    "neighbor_list",
    "read_label",
    "read_structures",
    "split_graph",
]
