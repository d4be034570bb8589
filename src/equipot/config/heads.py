"""Output heads declared in the model config: tensor properties beyond the energy.

A head reads the final node features of the shared encoder and predicts one property,
per atom or summed per structure. Its config is plain data (stored in model files, so a
loaded model rebuilds its heads without running code from the file).

| kind | output | shape (per structure / per atom) |
| --- | --- | --- |
| ``irreps`` | any e3nn irreps, e.g. ``0o`` (pseudoscalar), ``1e``, ``0e+2e`` | ``[n, irreps.dim]`` (e3nn order) |
| ``dipole`` | ``sum_i q_i (r_i - r_center) + sum_i mu_i``, charges summing to the total charge | ``[n_graphs, 3]`` |
| ``polarizability`` | symmetric 3x3 tensor (``ij=ji``: irreps 0e+2e) | ``[n, 3, 3]`` |
| ``cartesian`` | Cartesian tensor with index symmetries (``formula``, e.g. ``ijk=ikj``) | ``[n, 3, 3, ...]`` |
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .strict import StrictModel

__all__ = ["HEAD_KINDS", "RESERVED_OUTPUT_NAMES", "HeadConfig"]

HEAD_KINDS = ("irreps", "dipole", "polarizability", "cartesian")

#: names of the energy outputs; a head may not take them
RESERVED_OUTPUT_NAMES = frozenset({"energy", "atomic_energies", "forces", "stress", "virial", "free_energy", "energies"})

_DEFAULT_UNITS = {"dipole": "e·Å", "polarizability": "Å³"}


class HeadConfig(StrictModel):
    """One output head: ``model(graph, outputs={"energy", name})`` returns it in
    ``ModelOutput.extra[name]``.

    Examples (YAML, under ``model.heads``)::

        - {name: dipole, kind: dipole}                       # e·Å, [n_graphs, 3]
        - {name: polarizability, kind: polarizability}       # Å³, [n_graphs, 3, 3]
        - {name: piezo, kind: cartesian, formula: ijk=ikj}   # [n_graphs, 3, 3, 3]
        - {name: chirality, kind: irreps, irreps: 0o}        # pseudoscalar, [n_graphs, 1]
        - {name: charges, kind: irreps, irreps: 0e, per_atom: true}
    """

    name: str = Field(description="output name (key of ModelOutput.extra and of the loss target)")
    kind: Literal["irreps", "dipole", "polarizability", "cartesian"] = Field(
        description="irreps, dipole, polarizability (symmetric 3x3) or cartesian (formula)"
    )
    irreps: str | None = Field(None, description="kind irreps: e3nn irreps of the output, e.g. '0o' or '0e+2e'")
    formula: str | None = Field(
        None, description="kind cartesian: index symmetries as in e3nn's CartesianTensor, e.g. 'ijk=ikj', 'ijkl=jikl=klij'"
    )
    pseudo: bool = Field(
        False, description="kind cartesian/polarizability: an axial (pseudo) tensor, which also changes sign under inversion"
    )
    per_atom: bool = Field(False, description="one value per atom (true) or the sum over each structure's atoms (false)")
    scale: float | None = Field(
        None, description="output = scale x network output; null: RMS of the training labels (1 outside training)"
    )
    unit: str | None = Field(None, description="unit of the output, for metrics and plots; null: the kind's (e·Å, Å³) or none")
    periodic: Literal["error", "sum"] = Field(
        "error",
        description="kind dipole, periodic structures: 'error' (the dipole of a cell is not defined) "
        "or 'sum' (sum_i q_i r_i + mu_i of the atoms as placed in the cell; not a polarization)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> HeadConfig:
        if not self.name.isidentifier():
            raise ValueError(f"head name {self.name!r} must be an identifier (letters, digits, underscores)")
        if self.name in RESERVED_OUTPUT_NAMES:
            raise ValueError(f"head name {self.name!r} is an energy output; choose another name")
        if self.kind == "irreps":
            if self.irreps is None:
                raise ValueError(f"head {self.name!r}: kind irreps needs irreps, e.g. irreps: '0o'")
            _parse_irreps(self.name, self.irreps)
        elif self.irreps is not None:
            raise ValueError(f"head {self.name!r}: irreps is only for kind irreps (kind is {self.kind})")
        if self.kind == "cartesian":
            if self.formula is None:
                raise ValueError(f"head {self.name!r}: kind cartesian needs formula, e.g. formula: 'ij=ji'")
            _parse_formula(self.name, self.formula)
        elif self.formula is not None:
            raise ValueError(f"head {self.name!r}: formula is only for kind cartesian (kind is {self.kind})")
        if self.pseudo and self.kind not in ("cartesian", "polarizability"):
            raise ValueError(f"head {self.name!r}: pseudo is for Cartesian tensors; for irreps use odd labels (0o, 1e)")
        if self.kind == "dipole" and self.per_atom:
            raise ValueError(f"head {self.name!r}: a dipole is per structure (per_atom: false)")
        if self.periodic != "error" and self.kind != "dipole":
            raise ValueError(f"head {self.name!r}: periodic is an option of kind dipole only")
        return self

    @property
    def resolved_unit(self) -> str:
        """The unit shown in metrics and plots ('' if none)."""
        return self.unit if self.unit is not None else _DEFAULT_UNITS.get(self.kind, "")

    @property
    def resolved_formula(self) -> str | None:
        """The Cartesian formula of tensor kinds (``ij=ji`` for polarizability, ``i`` for dipole)."""
        return {"polarizability": "ij=ji", "dipole": "i", "cartesian": self.formula}.get(self.kind)


def _parse_irreps(name: str, irreps: str) -> None:
    from e3nn import o3

    try:
        parsed = o3.Irreps(irreps)
    except (ValueError, AssertionError) as error:
        raise ValueError(f"head {name!r}: irreps {irreps!r} is not an e3nn Irreps string: {error}") from None
    if parsed.dim == 0:
        raise ValueError(f"head {name!r}: irreps {irreps!r} is empty")


def _parse_formula(name: str, formula: str) -> None:
    indices = formula.split("=")[0].replace("-", "")
    if not indices or not indices.isalpha() or len(set(indices)) != len(indices) or len(indices) > 4:
        raise ValueError(
            f"head {name!r}: formula {formula!r} must name 1 to 4 distinct indices, e.g. 'ij=ji' or 'ijkl=jikl=klij'"
        )
    for side in formula.split("="):
        if sorted(side.replace("-", "")) != sorted(indices):
            raise ValueError(f"head {name!r}: every side of formula {formula!r} must permute the indices {indices!r}")
