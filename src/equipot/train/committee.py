"""`fit_committee`: train N models from one config (different seeds, optionally bootstrap
resamples of the training split) and save them as one committee file.

>>> from equipot.train import fit_committee                        # doctest: +SKIP
>>> result = fit_committee("config.yaml", n_members=4, parallel=2)  # doctest: +SKIP
>>> result.committee_path                                          # doctest: +SKIP
PosixPath('runs/train/committee.pt')
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config.train import TrainConfig
from ..models.io import load_model
from ..progress import progress_bars
from ..uq import Committee, calibrate_committee, save_committee
from .data import load_training_data
from .runner import as_train_config, fit

__all__ = ["CommitteeResult", "default_parallel", "fit_committee", "member_config"]


@dataclass
class CommitteeResult:
    """What `fit_committee` returns: the committee file and each member's run.

    ``members[i]`` holds member i's ``output_dir``, ``model_path``, ``seed``,
    ``valid_metrics`` and ``test_metrics`` (meV units, as in `TrainResult`); ``scales``
    the calibration factors of the spreads (`equipot.uq.calibrate_committee`).
    """

    output_dir: Path
    committee_path: Path
    members: list[dict[str, Any]] = field(default_factory=list)
    scales: dict[str, float] = field(default_factory=dict)


def member_config(config: TrainConfig, index: int, bootstrap: bool = False, threads: int | None = None) -> TrainConfig:
    """The config of committee member ``index``: its own run folder
    (``output_dir/member_<index>``) and weight seed (``seed + index``); the same
    validation/test split for every member (``data.split_seed`` fixed to the config's);
    with ``bootstrap``, its own resample of the training split (``data.bootstrap_seed``).
    ``threads`` replaces ``config.threads`` when the config leaves it unset."""
    data = config.model_dump(exclude_unset=True)  # unset stays unset: a fine-tune's model keys must not appear set
    seed = config.seed + index
    data["seed"] = seed
    data["output_dir"] = str(Path(config.output_dir) / f"member_{index}")
    data["data"]["split_seed"] = config.seed if config.data.split_seed is None else config.data.split_seed
    data["data"]["bootstrap_seed"] = seed if bootstrap else None
    if config.threads is None and threads is not None:
        data["threads"] = threads
    return TrainConfig.model_validate(data)


def default_parallel(config: TrainConfig, n_members: int) -> int:
    """Members trained at once: one per CPU core on a CPU run, one at a time on a GPU."""
    on_gpu = config.accelerator not in ("cpu",) and torch.cuda.is_available()
    return 1 if on_gpu else max(1, min(n_members, os.cpu_count() or 1))


def fit_committee(
    config: TrainConfig | str | os.PathLike,
    n_members: int,
    bootstrap: bool = False,
    parallel: int | None = None,
    resume: bool = False,
    member_bases: list[str | os.PathLike] | None = None,
) -> CommitteeResult:
    """Train ``n_members`` models from ``config`` (see `member_config`) and write
    ``output_dir/committee.pt`` (`equipot.uq.save_committee`: the members' best models),
    its spreads calibrated on the shared validation split (`equipot.uq.calibrate_committee`).

    ``parallel`` members train at once, each in its own process (multiprocessing, spawn)
    with ``threads = cores // parallel`` unless the config sets ``threads``; default
    `default_parallel`. ``parallel=1`` trains them one after the other in this process.
    ``resume=True`` continues members whose runs were interrupted (see `fit`).
    ``member_bases`` (one model file per member) makes member i fine-tune from
    ``member_bases[i]`` instead of ``config.finetune_from`` (to continue a committee).

    Raises:
        ValueError: ``n_members`` < 2 or ``parallel`` < 1.
    """
    if n_members < 2:
        raise ValueError(f"a committee needs at least 2 members to measure their spread, got --committee {n_members}")
    config = as_train_config(config)
    parallel = default_parallel(config, n_members) if parallel is None else parallel
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1 (members trained at once), got {parallel}")
    parallel = min(parallel, n_members)
    threads = max(1, (os.cpu_count() or 1) // parallel)
    configs = [member_config(config, i, bootstrap, threads if parallel > 1 else None) for i in range(n_members)]
    if member_bases is not None:
        if len(member_bases) != n_members:
            raise ValueError(f"member_bases names {len(member_bases)} model files for {n_members} members; give one per member")
        # the architecture comes from each base file: no model section (see finetune_from)
        configs = [TrainConfig.model_validate({**c.model_dump(exclude={"model"}), "finetune_from": str(base)})
                   for c, base in zip(configs, member_bases)]
    if parallel == 1:
        members = [_fit_member(member, resume) for member in configs]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=parallel, mp_context=context) as pool:
            members = list(pool.map(_fit_member_quietly, configs, [resume] * n_members))
    output_dir = Path(config.output_dir).expanduser().resolve()
    committee = Committee([load_model(member["model_path"]) for member in members])
    # the members share one validation split (member_config fixes its seed): the spreads are
    # scaled so that mean(error^2 / sigma^2) = 1 on it (calibrate_committee)
    valid = load_training_data(configs[0], committee.cutoff).valid
    if len(valid) > 0:
        committee = calibrate_committee(committee, valid.graphs)
        committee.calibrated_on = f"validation ({len(valid)} structures)"
    metadata = {
        "n_members": n_members,
        "bootstrap": bootstrap,
        "members": [{"run": str(m["output_dir"]), "seed": m["seed"]} for m in members],
        "calibration": dict(committee.scales),
    }
    path = save_committee(committee, output_dir / "committee.pt", metadata)
    return CommitteeResult(output_dir=output_dir, committee_path=path, members=members, scales=dict(committee.scales))


def _fit_member(config: TrainConfig, resume: bool) -> dict[str, Any]:
    """Train one member; a plain summary (it crosses process boundaries)."""
    result = fit(config, resume=resume)
    return {
        "output_dir": result.output_dir,
        "model_path": result.best_model_path,
        "seed": config.seed,
        "valid_metrics": result.valid_metrics,
        "test_metrics": result.test_metrics,
    }


def _fit_member_quietly(config: TrainConfig, resume: bool) -> dict[str, Any]:
    """`_fit_member` in a worker process: no progress bars (several would interleave)."""
    with progress_bars(False):
        return _fit_member(config, resume)
