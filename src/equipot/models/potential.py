"""`EquivariantPotential`: the assembled O(3)- (or SO(3)-) equivariant message-passing potential."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch
from ase.data import chemical_symbols
from e3nn import o3
from torch import Tensor, nn

from ..config import ModelConfig
from ..data import AtomicGraph, GraphValidationError, edge_vectors
from ..nn import (
    BesselBasis,
    DensityReadout,
    EdgeContext,
    InteractionBlock,
    IrrepsLayout,
    LinearReadout,
    NonLinearReadout,
    PolynomialEnvelope,
    node_layout,
)
from .derivatives import derive_outputs
from .heads import HeadSet, OutputSpec
from .irreps_flow import check_heads
from .output import OUTPUT_NAMES, ModelOutput

__all__ = ["EquivariantPotential", "UnknownElementError", "check_graph_cutoff"]

#: buffers that carry learned or fitted state (the rest are constants recomputed on build)
_STATE_BUFFERS = ("z_to_species", "atomic_energies", "scale", "shift", "avg_num_neighbors",
                  "density_readout.density_mean", "density_readout.density_scale")


class UnknownElementError(ValueError):
    """A structure contains an element the model was not built for."""


def check_graph_cutoff(graph_cutoff: float, model_cutoff: float) -> None:
    """Refuse a graph whose edges were built with a cutoff (Å) below the model's: it lacks
    neighbors the model would see, and its energy would silently differ. A larger cutoff
    is fine: edges beyond ``model_cutoff`` get a zero envelope (`PolynomialEnvelope` is 0
    for r >= cutoff and the radial weights are multiplied by it), so they add exactly 0."""
    if graph_cutoff < model_cutoff * (1.0 - 1e-9):
        raise GraphValidationError(
            f"graph built with cutoff {graph_cutoff:g} Å but the model needs {model_cutoff:g} Å; "
            "rebuild it with graph_from_atoms(atoms, cutoff=model.cutoff)"
        )


class EquivariantPotential(nn.Module):
    """An E(3)-equivariant message-passing interatomic potential (MACE/NequIP family).

    Build from a `ModelConfig` or its fields::

        model = EquivariantPotential(species=["H", "C", "O"], cutoff=5.0, num_channels=64,
                                     lmax=2, num_layers=2, correlation=3)
        out = model(graph, outputs={"energy", "forces", "stress"})

    The energy of atom i is ``scale * (sum_t readout_t(h_i^t) + F_Z(rho_i)) + shift + E0[Z_i]``,
    with the embedded-density term ``F_Z(rho_i)`` only when ``config.density_embedding``
    is set (`equipot.nn.DensityReadout`; its density normalization is fitted with
    `fit_density_normalization`);
    ``scale``, ``shift``, the reference energies ``E0`` (eV) and the average neighbor count
    are buffers set from dataset statistics with `set_normalization`.
    """

    def __init__(self, config: ModelConfig | None = None, /, *, dtype: torch.dtype = torch.float32, **fields: object):
        super().__init__()
        if config is None:
            config = ModelConfig(**fields)  # type: ignore[arg-type]
        elif fields:
            config = ModelConfig.model_validate({**config.model_dump(), **fields})
        self.config = config
        # e3nn bakes Clebsch-Gordan coefficients into constants of the construction dtype:
        # build in float64 so they are exact, then cast (see `converted`)
        previous_dtype = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            self._build(config)
        finally:
            torch.set_default_dtype(previous_dtype)
        self.to(dtype=dtype)

    def _build(self, config: ModelConfig) -> None:
        z_to_species = torch.full((len(chemical_symbols),), -1, dtype=torch.long)
        for index, z in enumerate(config.atomic_numbers):
            z_to_species[z] = index
        self.register_buffer("z_to_species", z_to_species)
        num_species = len(config.species)
        self.register_buffer("atomic_energies", torch.zeros(num_species))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("shift", torch.tensor(0.0))
        self.register_buffer("avg_num_neighbors", torch.tensor(1.0))

        self.spherical_harmonics = o3.SphericalHarmonics(
            o3.Irreps.spherical_harmonics(config.lmax), normalize=True, normalization="component"
        )
        self.layout_sh = IrrepsLayout.spherical_harmonics(config.lmax, parity=config.parity)
        self.radial_basis = BesselBasis(config.cutoff, config.num_radial_basis)
        self.envelope = PolynomialEnvelope(config.cutoff, config.envelope_exponent)

        self.layout_node = node_layout(config)
        channels = self.layout_node.channels
        self.embedding = nn.Embedding(num_species, channels)
        layout_in = IrrepsLayout(((0, 1),), channels)
        self.blocks = nn.ModuleList()
        self.readouts = nn.ModuleList()
        for layer in range(config.num_layers):
            self.blocks.append(InteractionBlock(layout_in, self.layout_sh, self.layout_node, config))
            last = layer == config.num_layers - 1
            self.readouts.append(
                NonLinearReadout(self.layout_node, config.readout_hidden) if last else LinearReadout(self.layout_node)
            )
            layout_in = self.layout_node
        embedding = config.density_embedding
        self.density_readout = (
            DensityReadout(num_species, embedding.decay_rates, embedding.hidden) if embedding is not None else None
        )
        # further outputs from the final node features (None without heads)
        self.heads = HeadSet(config.heads, self.layout_node, config.parity, check_heads(config)) if config.heads else None

    def converted(self, dtype: torch.dtype) -> EquivariantPotential:
        """A copy in ``dtype`` with exactly computed constants.

        Prefer this over ``model.to(torch.float64)`` for a model built in float32: ``to``
        keeps constants rounded to float32, which limits symmetry to ~1e-8.
        """
        copy = EquivariantPotential(self.config, dtype=dtype)
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in self.learned_state().items()}
        copy.load_learned_state(state)
        copy.metadata = getattr(self, "metadata", {})
        return copy.to(device=self.z_to_species.device).train(self.training)

    def widened(self, config: ModelConfig) -> EquivariantPotential:
        """A model built from ``config`` (this one's architecture with parts added: a head, a
        density readout) that carries over every learned entry of this one; the added parts
        keep their initialization. Same dtype, device, training mode and metadata."""
        copy = EquivariantPotential(config, dtype=self.dtype).to(device=self.device)
        state = copy.learned_state()
        state.update(self.learned_state())
        copy.load_learned_state(state)
        copy.metadata = getattr(self, "metadata", {})
        return copy.train(self.training)

    def learned_state(self) -> dict[str, Tensor]:
        """Parameters and fitted buffers (normalization, species map): what a model file
        stores. Constants (Clebsch-Gordan tensors, index maps) are rebuilt from the config."""
        learned = {name for name, _ in self.named_parameters()} | set(_STATE_BUFFERS)
        return {name: value for name, value in self.state_dict().items() if name in learned}

    def load_learned_state(self, state: dict[str, Tensor]) -> None:
        """Load `learned_state` output; other entries (constants stored by older versions)
        are ignored. Raises ``RuntimeError`` naming learned entries that are missing or of
        the wrong shape."""
        wanted = self.learned_state()
        missing = sorted(set(wanted) - set(state))
        if missing:
            raise RuntimeError(f"missing learned weights {missing}")
        self.load_state_dict({name: state[name] for name in wanted}, strict=False)

    # ----------------------------------------------------------- normalization
    def set_normalization(
        self,
        atomic_energies: dict[int, float] | None = None,
        scale: float | None = None,
        shift: float | None = None,
        avg_num_neighbors: float | None = None,
    ) -> None:
        """Set reference energies E0 (atomic number -> eV), scale (eV), shift (eV/atom) and
        the average neighbor count that normalizes message sums."""
        with torch.no_grad():
            if atomic_energies is not None:
                for z, energy in atomic_energies.items():
                    index = int(self.z_to_species[int(z)])
                    if index >= 0:
                        self.atomic_energies[index] = float(energy)
            if scale is not None:
                self.scale.fill_(float(scale))
            if shift is not None:
                self.shift.fill_(float(shift))
            if avg_num_neighbors is not None:
                self.avg_num_neighbors.fill_(float(avg_num_neighbors))

    @torch.no_grad()
    def fit_density_normalization(self, graphs: Iterable[AtomicGraph]) -> None:
        """Fit the density normalization of the embedded-density readout (mean and spread
        of each density over the atoms of ``graphs``); nothing without one."""
        if self.density_readout is None:
            return
        densities = []
        for graph in graphs:
            graph = graph.to(device=self.device, dtype=self.dtype)
            edges = self.edge_context(graph, graph.positions, graph.cell)
            densities.append(self.density_readout.densities(self.species_of(graph), edges))
        if densities:
            self.density_readout.fit_normalization(torch.cat(densities))

    # ------------------------------------------------------------------ model
    def species_indices(self, atomic_numbers: Tensor) -> Tensor:
        """Species indices of ``atomic_numbers`` (same shape), -1 for elements this model
        does not know; `species_of` checks them."""
        return self.z_to_species[atomic_numbers]

    def species_of(self, graph: AtomicGraph) -> Tensor:
        """[n_atoms] dense species indices; raises `UnknownElementError` naming the structure."""
        species = self.species_indices(graph.atomic_numbers)
        if bool((species < 0).any()):
            atom = int(torch.nonzero(species < 0)[0, 0])
            z = int(graph.atomic_numbers[atom])
            raise UnknownElementError(
                f"structure {int(graph.batch[atom])} of the batch contains element "
                f"{chemical_symbols[z]} (Z={z}), which this model does not know; it was built for "
                f"{self.config.species}. Train a model that includes {chemical_symbols[z]}"
            )
        return species

    def atomic_energies_of(
        self,
        graph: AtomicGraph,
        positions: Tensor,
        cell: Tensor,
        first_order_only: bool = False,
        species: Tensor | None = None,
    ) -> Tensor:
        """[n_atoms] energies (eV) from (possibly strained) ``positions`` and ``cell``."""
        return self.energies_and_features(graph, positions, cell, first_order_only, species)[0]

    def edge_context(
        self, graph: AtomicGraph, positions: Tensor, cell: Tensor, first_order_only: bool = False
    ) -> EdgeContext:
        """The `EdgeContext` of ``graph`` at (possibly strained) ``positions`` and ``cell``:
        edge vectors, their harmonics, radial basis and envelope, and the normalization."""
        return self.edge_context_of_vectors(edge_vectors(graph, positions, cell), graph.senders, graph.receivers, first_order_only)

    def edge_context_of_vectors(
        self, vectors: Tensor, senders: Tensor, receivers: Tensor, first_order_only: bool = False
    ) -> EdgeContext:
        """The `EdgeContext` of edges given as ``vectors`` [n_edges, 3] (Å, sender minus
        receiver, images included) between atoms ``senders`` and ``receivers`` [n_edges]:
        how a host that owns the neighbor list (LAMMPS) feeds the model."""
        lengths = torch.linalg.norm(vectors, dim=-1)
        return EdgeContext(
            vectors=vectors,
            harmonics=self.spherical_harmonics(vectors),
            radial=self.radial_basis(lengths),
            envelope=self.envelope(lengths),
            senders=senders,
            receivers=receivers,
            avg_num_neighbors=self.avg_num_neighbors,
            first_order_only=first_order_only,
        )

    def energies_and_features(
        self,
        graph: AtomicGraph,
        positions: Tensor,
        cell: Tensor,
        first_order_only: bool = False,
        species: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Atomic energies [n_atoms] (eV) and final node features [n_atoms, C, layout_node.dim].

        ``first_order_only=True`` lets large graphs take the chunked message path
        (`nn.chunked_messages`): memory linear in atoms, but the result can be
        differentiated only once. ``species`` [n_atoms]: `species_of` the graph, if
        already known."""
        species = self.species_of(graph) if species is None else species
        return self.energies_from_edges(species, self.edge_context(graph, positions, cell, first_order_only))

    def energies_from_edges(self, species: Tensor, edges: EdgeContext) -> tuple[Tensor, Tensor]:
        """Atomic energies [n_atoms] (eV) and final node features [n_atoms, C, layout_node.dim]
        of atoms of dense ``species`` [n_atoms] joined by ``edges``."""
        features = self.embedding(species).unsqueeze(-1)  # [n_atoms, C, 1]: even scalars
        readout = torch.zeros_like(features[:, 0, 0])
        for block, head in zip(self.blocks, self.readouts):
            features = block(features, species, edges)
            readout = readout + head(features)
        if self.density_readout is not None:
            readout = readout + self.density_readout(species, edges)
        return self.scale * readout + self.shift + self.atomic_energies.index_select(0, species), features

    def forward(
        self,
        graph: AtomicGraph,
        outputs: Iterable[str] = ("energy", "forces"),
        create_graph: bool | None = None,
    ) -> ModelOutput:
        """Energy and the derivatives named in ``outputs`` (a subset of ``energy``,
        ``atomic_energies``, ``forces``, ``stress``, ``virial``), plus the outputs of the
        heads named there (in ``ModelOutput.extra``, see `output_specs`). ``create_graph``
        defaults to ``self.training`` (needed to train on forces). Heads share one pass
        through the network with the energy; to differentiate a head's output after
        asking for forces, pass ``create_graph=True``. A graph in another floating-point
        dtype than the model is cast to the model's (outputs come in the model's dtype).

        Without ``create_graph``, graphs above 32 768 edges have their messages summed in
        chunks of edges (`equipot.nn.chunked_messages`): the same numbers, with memory
        linear in the number of atoms, differentiable once.

        A graph built with a smaller cutoff than the model's is refused
        (`GraphValidationError`: it lacks neighbors the model sees); one built with a larger
        cutoff gives the same result, because the envelope makes the edges beyond the
        model's cutoff contribute exactly zero."""
        check_graph_cutoff(graph.cutoff, self.config.cutoff)
        create_graph = self.training if create_graph is None else create_graph
        dtype = self.atomic_energies.dtype
        if graph.dtype != dtype:  # e.g. graph_from_atoms' float64 default with a float32 model
            graph = graph.to(dtype=dtype)
        outputs = frozenset(outputs)
        head_names = outputs - OUTPUT_NAMES
        first_order_only = not create_graph
        if not head_names:
            species = self.species_of(graph)
            energy_function = functools.partial(self.atomic_energies_of, first_order_only=first_order_only, species=species)
            return derive_outputs(energy_function, graph, outputs, create_graph)
        unknown = sorted(head_names - set(self.output_specs()))
        if unknown:
            raise ValueError(
                f"unknown outputs {unknown}; this model computes {sorted(OUTPUT_NAMES)} and its heads "
                f"{sorted(self.output_specs())} (declare heads in ModelConfig.heads)"
            )
        extra: dict[str, Tensor] = {}

        def energies_and_heads(graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
            energies, features = self.energies_and_features(graph, positions, cell, first_order_only)
            assert self.heads is not None
            extra.update(self.heads(features, graph, positions, head_names))
            return energies

        result = derive_outputs(energies_and_heads, graph, outputs - head_names, create_graph)
        result.extra.update(extra)
        return result

    def output_specs(self) -> dict[str, OutputSpec]:
        """How each head's output transforms (name -> `OutputSpec`); empty without heads."""
        return self.heads.specs() if self.heads is not None else {}

    @property
    def cutoff(self) -> float:
        return self.config.cutoff

    @property
    def species(self) -> list[str]:
        return list(self.config.species)

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point dtype the model computes in (its outputs come in it)."""
        return self.atomic_energies.dtype

    @property
    def device(self) -> torch.device:
        return self.atomic_energies.device
