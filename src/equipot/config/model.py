"""Hyperparameters of an equivariant potential, validated by pydantic."""

from __future__ import annotations

from ase.data import atomic_numbers
from pydantic import Field, field_validator, model_validator

from .heads import HeadConfig
from .longrange import LongRangeConfig
from .strict import StrictModel

__all__ = ["DensityEmbeddingConfig", "ModelConfig"]


class DensityEmbeddingConfig(StrictModel):
    """An embedded-atom term ``F_Z(rho_i)`` added to the energy readouts
    (`equipot.nn.DensityReadout`): ``rho_ik = sum_j a_{Z_j k} exp(-beta_k r_ij) f_cut(r_ij)``
    for each decay rate ``beta_k`` in ``decay_rates`` (1/Å), ``F_Z`` a SiLU network of
    ``hidden`` units per species. For metals and other many-body bonding that the
    messages' pair sums learn slowly (docs/model.md)."""

    decay_rates: list[float] = Field(
        default_factory=lambda: [1.0, 2.0, 3.0, 4.0], description="decay rates beta_k of the densities, 1/Å"
    )
    hidden: int = Field(16, ge=1, description="hidden units of each species' embedding function")

    @field_validator("decay_rates")
    @classmethod
    def _positive_rates(cls, rates: list[float]) -> list[float]:
        if not rates or not all(rate > 0 and rate < float("inf") for rate in rates):
            raise ValueError(f"decay_rates must be one or more positive, finite rates in 1/Å, e.g. [1, 2, 3, 4]; got {rates}")
        return rates


class ModelConfig(StrictModel):
    """Architecture of `EquivariantPotential`.

    ``lmax`` is the largest angular momentum of the edge spherical harmonics;
    ``hidden_lmax`` that of the node features (``num_channels`` copies of each
    ``l <= hidden_lmax``); ``hidden_irreps`` overrides both channel and l choices with an
    e3nn string such as ``"64x0e+64x1o+16x1e+16x0o"`` (add ``1e``/``0o`` for pseudo-vector
    and pseudo-scalar features). ``correlation`` is the body order of the product basis
    (1: two-body messages as in NequIP; 3: four-body features as in MACE). With
    ``parity=False`` the model is only SO(3)-equivariant: mirror images may get different
    energies (needed when the target itself tells enantiomers apart). ``heads`` declares
    further outputs (`HeadConfig`: dipoles, polarizabilities, any irreps or Cartesian
    tensor) computed from the final node features. ``density_embedding`` adds an
    embedded-atom energy of neighbor densities (`DensityEmbeddingConfig`). ``long_range``
    adds learned charges and their electrostatics (`LongRangeConfig`; built by
    `equipot.longrange.build_potential`).
    """

    species: list[str] = Field(description="chemical symbols the model knows, e.g. [H, C, O]")
    cutoff: float = Field(5.0, gt=0, description="radial cutoff in Å")
    num_channels: int = Field(48, ge=1, description="channels per irrep of node features")
    lmax: int = Field(2, ge=0, le=6, description="largest l of edge spherical harmonics")
    hidden_lmax: int = Field(1, ge=0, le=6, description="largest l of node features")
    hidden_irreps: str | None = Field(None, description="explicit node irreps; overrides num_channels/hidden_lmax")
    num_layers: int = Field(2, ge=1, description="number of interaction layers")
    correlation: int = Field(3, ge=1, le=5, description="body order of the product basis")
    num_radial_basis: int = Field(8, ge=1, description="Bessel functions in the radial basis")
    radial_hidden: int = Field(64, ge=1, description="width of the radial MLP")
    envelope_exponent: int = Field(6, ge=2, description="p of the polynomial cutoff envelope")
    readout_hidden: int = Field(16, ge=1, description="width of the last layer's scalar readout MLP")
    parity: bool = Field(True, description="O(3) (True) or SO(3)-only (False) equivariance")
    heads: list[HeadConfig] = Field(
        default_factory=list,
        description="output heads beyond the energy (dipole, polarizability, irreps, cartesian); see docs/tensors.md",
    )
    density_embedding: DensityEmbeddingConfig | None = Field(
        None, description="an embedded-atom energy F(rho) of smooth neighbor densities (metals); see docs/model.md"
    )
    long_range: LongRangeConfig | None = Field(
        None, description="learned charges and their Coulomb energy added to the local model; see docs/longrange.md"
    )

    @field_validator("species")
    @classmethod
    def _known_symbols(cls, species: list[str]) -> list[str]:
        if not species:
            raise ValueError("species must list at least one element")
        unknown = [s for s in species if s not in atomic_numbers or s == "X"]
        if unknown:
            raise ValueError(f"unknown chemical symbols {unknown}")
        if len(set(species)) != len(species):
            raise ValueError(f"species listed twice: {species}")
        # canonical order: by atomic number, so a model's species indices never depend on
        # the order a user typed them in
        return sorted(species, key=lambda s: atomic_numbers[s])

    @model_validator(mode="after")
    def _check_irreps(self) -> "ModelConfig":
        if self.hidden_irreps is not None:
            from e3nn import o3

            try:
                irreps = o3.Irreps(self.hidden_irreps)
            except (ValueError, AssertionError) as error:
                raise ValueError(f"hidden_irreps {self.hidden_irreps!r} is not an e3nn Irreps string: {error}")
            if "0e" not in [str(ir) for _, ir in irreps]:
                raise ValueError("hidden_irreps must contain scalars (0e) for the energy readout")
            if len({mul for mul, _ in irreps}) != 1:
                raise ValueError("all irreps in hidden_irreps must have the same multiplicity (channels)")
        names = [head.name for head in self.heads]
        if len(set(names)) != len(names):
            raise ValueError(f"head names must be unique, got {names}")
        if self.long_range is not None and self.species is not None:  # species may be inferred later (training)
            self.long_range.check_fixed_charges_cover(self.species)
        return self

    @property
    def atomic_numbers(self) -> list[int]:
        return [atomic_numbers[s] for s in self.species]

