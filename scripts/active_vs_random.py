"""Active against random selection from the same pool of candidate frames (issue 20).

Cu with EMT labels, 32-atom cells. One fixed pool of candidate frames from EMT Langevin MD,
mostly "easy" (300 K, perfect crystal) with a minority of informative ones (1400 K, strained
cells at 700 K, a vacancy at 700 K); a fixed test set with equal shares of the four kinds.
Each seed starts from 20 labelled 300 K frames and runs both strategies with identical
training per round (a committee of 2 small models, ``--committee-size``; round 1 trains
from scratch, once per seed for both strategies; later rounds fine-tune the previous
round's members with the loop's defaults, `equipot.learn.training`: 15 epochs or at least
150 optimizer steps, a cosine learning rate from 0.005, the last epoch kept):

- active: the loop's own scoring and selection (`score_frames`: largest committee force
  spread of a frame; `select_frames`: the ``budget x 4`` most uncertain, then ``budget`` of
  them by farthest-point sampling in feature space);
- random: ``budget`` frames drawn uniformly from the unlabelled rest of the same pool.

Both label with EMT (`equipot.learn.label`) and record labels against the test force MAE
of the committee's mean, per round.

    python scripts/active_vs_random.py all --out runs/active_vs_random --random-rounds 10
    python scripts/active_vs_random.py analyze --out runs/active_vs_random --targets 30 20
    python scripts/active_vs_random.py kinds --out runs/active_vs_random   # test error per kind of frame

``all`` writes ``pool.xyz``, ``test.xyz``, ``initial.xyz``, one ``curve_<strategy>_<seed>.json``
per run (6 rounds of 10 labels; random runs ``--random-rounds``, to see where it reaches
what active reached; a finished run is skipped when run again, an unfinished one starts
again, reusing the finished training runs of its rounds) and ``summary.json``; ``analyze``
(also run after ``all``) draws ``--figure`` (default ``<out>/active_vs_random.png``; mean
and min-max over seeds) and gives, for each test force-MAE target (meV/Å; default:
random's mean error at active's last label count, and active's mean final error), the
labels each strategy needs to reach it, read on each seed's curve (linear interpolation
between rounds) and on the mean curve, and their ratio (all labels, and labels beyond the
20 initial ones).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

TRAIN = {
    "model": {"num_channels": 8, "num_layers": 1, "lmax": 1, "hidden_lmax": 1, "correlation": 2,
              "radial_hidden": 16, "num_radial_basis": 6, "readout_hidden": 8, "cutoff": 4.0},
    "data": {"n_valid": 2},
    "loss": {"energy_weight": 1.0, "forces_weight": 10.0},
    "optimizer": {"lr": 0.01},
    "max_epochs": 60,
    "batch_size": 4,
    "threads": 1,
    "accelerator": "cpu",
    "ema": {"enabled": False},
}
FINETUNE = {"max_epochs": 15, "lr": 0.005, "min_steps": 150, "schedule": "cosine", "keep": "last"}
KINDS = ("easy", "hot", "strained", "vacancy")


def _md_frames(atoms: Atoms, temperature: float, n_frames: int, seed: int, every: int = 20, warmup: int = 200) -> list[Atoms]:
    """``n_frames`` EMT-labelled frames of a Langevin run (5 fs steps), one every ``every`` steps after ``warmup``."""
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.calc = EMT()
    thermalize_momenta(atoms, temperature, rng=rng)
    Stationary(atoms)
    dynamics = Langevin(atoms, 5 * units.fs, temperature_K=temperature, friction=0.02 / units.fs, fixcm=False, rng=rng)
    dynamics.run(warmup)
    frames = []
    for _ in range(n_frames):
        dynamics.run(every)
        frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
        frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(frame)
    return frames


def _frames_of_kind(kind: str, n_frames: int, seed: int) -> list[Atoms]:
    """EMT MD frames of one kind: easy (300 K), hot (1400 K), strained (random strain up to
    ±5 %, 700 K, 2 frames per cell) or vacancy (31 atoms, 700 K)."""
    rng = np.random.default_rng(seed)
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    if kind in ("easy", "hot"):
        temperature = 300.0 if kind == "easy" else 1400.0
        runs = max(1, n_frames // 20)
        return [f for run in range(runs) for f in _md_frames(crystal, temperature, n_frames // runs, seed * 100 + run)]
    frames = []
    while len(frames) < n_frames:
        cell = crystal.copy()
        if kind == "strained":
            strain = rng.uniform(-0.05, 0.05, (3, 3))
            cell.set_cell(cell.cell @ (np.eye(3) + (strain + strain.T) / 2), scale_atoms=True)
        else:
            del cell[int(rng.integers(len(cell)))]
        frames += _md_frames(cell, 700.0, 2, int(rng.integers(1 << 31)), every=40)
    return frames[:n_frames]


def generate(out: Path, pool_scale: int = 1) -> None:
    """pool.xyz (240 easy + 20 of each informative kind, each times ``pool_scale``: the same
    shares, more frames of each; the frames of a smaller pool come first), test.xyz (20 of
    each kind), initial.xyz (40 easy frames from their own runs; each seed draws 20)."""
    recorded = out / "pool_scale.txt"
    if (out / "initial.xyz").is_file():
        existing = int(recorded.read_text()) if recorded.is_file() else 1
        if existing != pool_scale:
            raise SystemExit(f"{out} holds a pool of scale {existing}, not {pool_scale}: use another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    recorded.write_text(f"{pool_scale}\n")
    sets = {"pool": {"easy": (240 * pool_scale, 1), "hot": (20 * pool_scale, 2), "strained": (20 * pool_scale, 3),
                     "vacancy": (20 * pool_scale, 4)},
            "test": {kind: (20, 10 + i) for i, kind in enumerate(KINDS)},
            "initial": {"easy": (40, 20)}}
    for name, kinds in sets.items():
        frames = []
        for kind, (count, seed) in kinds.items():
            for frame in _frames_of_kind(kind, count, seed):
                frame.info["kind"] = kind
                frames.append(frame)
        ase.io.write(out / f"{name}.xyz", frames)


def _first_round(config, selection):
    """The round-1 committee of a seed, shared by both strategies (same labels, same
    seed): trained once, under a file lock, and loaded by whichever run comes second."""
    from equipot.learn.training import train_round
    from equipot.uq import load_committee

    train_dir = Path(config.output_dir)
    train_dir.mkdir(parents=True, exist_ok=True)
    with open(train_dir / "shared.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (train_dir / "committee.pt").is_file():
            return train_round(config, selection)
    committee = load_committee(train_dir / "committee.pt")
    return committee, committee.members[0]


def run_strategy(out: Path, strategy: str, seed: int, rounds: int, budget: int, finetune: dict | None = None,
                 model: dict | None = None, committee_size: int = 2) -> dict:
    """One strategy and seed: ``rounds`` rounds of train -> test error -> select ``budget``
    frames -> label; the curve (labels, test force MAE in meV/Å) goes to
    ``curve_<strategy>_<seed>.json`` after every round (``finished`` once all are done; an
    unfinished run starts again). ``model`` overrides keys of the members' model section
    (e.g. ``{"num_channels": 16}``); the round-1 committee in ``out`` is shared by both
    strategies, so a new model or ``committee_size`` wants a new ``out``."""
    from equipot.config.learn import FinetuneSection, SelectionSection
    from equipot.config.train import TrainConfig
    from equipot.data import GraphDataset
    from equipot.learn import label, make_labeller, score_frames, select_frames
    from equipot.learn.training import previous_round_models, round_train_config, train_round
    from equipot.train import evaluate_errors

    path = out / f"curve_{strategy}_{seed}.json"
    done = json.loads(path.read_text()) if path.is_file() else None
    if done is not None and done["finished"] and len(done["labels"]) >= rounds:
        return done
    rng = np.random.default_rng(seed)
    initial = ase.io.read(out / "initial.xyz", index=":")
    labelled = [initial[i] for i in rng.choice(len(initial), 20, replace=False)]
    pool = ase.io.read(out / "pool.xyz", index=":")
    for frame in pool:
        frame.calc = None  # the labels are computed when a frame is chosen
    unlabelled = list(range(len(pool)))
    selection = SelectionSection(estimator="committee", committee_size=committee_size, threshold=1e-9, budget_per_round=budget,
                                 candidates_per_label=4)
    base = TrainConfig.model_validate({**TRAIN, "model": {**TRAIN["model"], **(model or {})}, "seed": seed,
                                       "data": {**TRAIN["data"], "train_file": "x.xyz"}})
    labeller, run_dir = make_labeller("emt", {}), out / f"{strategy}_{seed}"
    curve: dict = {"strategy": strategy, "seed": seed, "labels": [], "test_forces_mae": [], "picked_kinds": [],
                   "seconds": [], "finished": False}
    for round_index in range(1, rounds + 1):
        start = time.perf_counter()
        round_dir = run_dir / f"round_{round_index}"
        round_dir.mkdir(parents=True, exist_ok=True)
        ase.io.write(round_dir / "labelled.xyz", labelled)
        if round_index == 1:  # the same 20 labels and seed for both strategies
            config = round_train_config(base, round_dir / "labelled.xyz", out / f"first_round_{seed}" / "train")
            committee, feature_model = _first_round(config, selection)
        else:
            section = FinetuneSection(**{**FINETUNE, **(finetune or {})})
            config = round_train_config(base, round_dir / "labelled.xyz", round_dir / "train", section)
            previous = out / f"first_round_{seed}" / "train" if round_index == 2 else run_dir / f"round_{round_index - 1}" / "train"
            committee, feature_model = train_round(config, selection, previous_round_models(previous, selection, section),
                                                   section)
        test = GraphDataset.from_file(out / "test.xyz", committee.cutoff, require=("energy", "forces"))
        curve["labels"].append(len(labelled))
        curve["test_forces_mae"].append(evaluate_errors(committee, test)["forces_mae"])
        if round_index < rounds:
            candidates = [pool[i] for i in unlabelled]
            if strategy == "active":
                scores, flags = score_frames(committee, candidates, "committee", selection.threshold)
                chosen = select_frames(feature_model, candidates, scores, flags, budget, selection.candidates_per_label)
            else:
                chosen = [int(i) for i in rng.choice(len(candidates), budget, replace=False)]
            picked = [unlabelled[i] for i in chosen]
            for index in picked:
                frame = pool[index].copy()
                energy, forces = label(frame, labeller)
                frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
                labelled.append(frame)
            curve["picked_kinds"].append([pool[i].info["kind"] for i in picked])
            unlabelled = [i for i in unlabelled if i not in set(picked)]
        curve["seconds"].append(round(time.perf_counter() - start, 1))
        print(f"{strategy} seed {seed} round {round_index}: {curve['labels'][-1]} labels, "
              f"test force MAE {curve['test_forces_mae'][-1]:.1f} meV/Å ({curve['seconds'][-1]} s)", flush=True)
        curve["finished"] = round_index == rounds
        path.write_text(json.dumps(curve, indent=1) + "\n")
    return curve


def labels_to_target(labels: list[float], errors: list[float], target: float) -> float:
    """Labels at which the curve first reaches ``target`` (linear between rounds); inf if never."""
    for i, error in enumerate(errors):
        if error <= target:
            if i == 0:
                return float(labels[0])
            previous = errors[i - 1]
            return float(labels[i - 1] + (labels[i] - labels[i - 1]) * (previous - target) / (previous - error))
    return float("inf")


def _target_row(curves: dict[str, list[dict]], mean: dict[str, np.ndarray], target: float) -> dict:
    """Labels to ``target`` for each strategy (per seed; on the mean curve) and their ratios."""
    row: dict = {"target_meV_per_A": round(target, 2)}
    for strategy, runs in curves.items():
        row[strategy] = {
            "per_seed": [round(labels_to_target(c["labels"], c["test_forces_mae"], target), 1) for c in runs],
            "mean_curve": round(labels_to_target(runs[0]["labels"], list(mean[strategy]), target), 1),
        }
    active, random = row["active"]["mean_curve"], row["random"]["mean_curve"]
    initial = curves["active"][0]["labels"][0]
    row["labels_ratio_random_over_active"] = round(random / active, 2)
    row["new_labels_ratio_random_over_active"] = round((random - initial) / (active - initial), 2) if active > initial else None
    return row


def analyze(out: Path, targets: list[float] | None, figure: Path) -> dict:
    """Mean ± spread curves, labels to each target per seed and on the mean curves, the figure.

    Default targets: random's mean error at the last label count that active reached too,
    and active's mean final error."""
    from matplotlib.figure import Figure

    curves: dict[str, list[dict]] = {"active": [], "random": []}
    for path in sorted(out.glob("curve_*.json")):
        curve = json.loads(path.read_text())
        curves[curve["strategy"]].append(curve)
    for runs in curves.values():  # unfinished runs: the rounds all seeds of the strategy have
        length = min(len(c["labels"]) for c in runs)
        for c in runs:
            c["labels"], c["test_forces_mae"], c["picked_kinds"] = (
                c["labels"][:length], c["test_forces_mae"][:length], c["picked_kinds"][: length - 1])
    mean = {s: np.mean([c["test_forces_mae"] for c in runs], axis=0) for s, runs in curves.items()}
    labels = {s: runs[0]["labels"] for s, runs in curves.items()}
    if targets is None:
        shared = min(len(labels["active"]), len(labels["random"])) - 1
        targets = [float(mean["random"][shared]), float(mean["active"][-1])]
    summary: dict = {"labels": labels, "strategies": {}, "targets": [_target_row(curves, mean, t) for t in targets]}
    for strategy, runs in curves.items():
        kinds = [k for c in runs for picks in c["picked_kinds"] for k in picks]
        summary["strategies"][strategy] = {
            "seeds": [c["seed"] for c in runs],
            "mean_mae": [round(float(v), 2) for v in mean[strategy]],
            "std_mae": [round(float(v), 2) for v in np.std([c["test_forces_mae"] for c in runs], axis=0)],
            "picked_informative_fraction": round(float(np.mean([k != "easy" for k in kinds])), 3) if kinds else None,
            "seconds": round(float(sum(sum(c["seconds"]) for c in runs)), 1),
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    fig = Figure(figsize=(5.5, 4.0))
    axes = fig.add_subplot()
    for strategy, color in (("active", "tab:blue"), ("random", "tab:orange")):
        runs = np.array([c["test_forces_mae"] for c in curves[strategy]])
        axes.plot(labels[strategy], runs.mean(0), "o-", color=color, label=f"{strategy} (mean of {len(runs)} seeds)")
        axes.fill_between(labels[strategy], runs.min(0), runs.max(0), color=color, alpha=0.2)
    for target in targets:
        axes.axhline(target, color="gray", ls="--", lw=1)
    axes.set_xlabel("labelled structures (20 initial + selected)")
    axes.set_ylabel("test force MAE (meV/Å)")
    axes.set_title("Cu/EMT: active vs random from one pool\n(band: min-max over seeds; dashed: targets)", fontsize=10)
    axes.legend()
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=120)
    print(json.dumps(summary, indent=1))
    return summary


def per_kind_errors(out: Path) -> dict:
    """Test force MAE (meV/Å) of each round's committee on each kind of test frame
    (easy, hot, strained, vacancy), mean over the seeds, per strategy and label count:
    ``per_kind.json``. Reads the committee files the runs left (round 1: the shared one)."""
    from equipot.data import GraphDataset
    from equipot.train import evaluate_errors
    from equipot.uq import load_committee

    kinds = [frame.info["kind"] for frame in ase.io.read(out / "test.xyz", index=":")]
    slices = {kind: f"{kinds.index(kind)}:{len(kinds) - kinds[::-1].index(kind)}" for kind in KINDS}
    assert all(kinds[int(a):int(b)] == [k] * (int(b) - int(a)) for k, (a, b) in
               ((k, v.split(":")) for k, v in slices.items())), "test.xyz: each kind must be contiguous"
    errors: dict[str, dict[str, list]] = {}
    for path in sorted(out.glob("curve_*.json")):
        curve = json.loads(path.read_text())
        strategy, seed = curve["strategy"], curve["seed"]
        for round_index, labels in enumerate(curve["labels"], start=1):
            run = out / f"first_round_{seed}" if round_index == 1 else out / f"{strategy}_{seed}" / f"round_{round_index}"
            committee = load_committee(run / "train" / "committee.pt")
            for kind, index in slices.items():
                test = GraphDataset.from_file(out / "test.xyz", committee.cutoff, require=("energy", "forces"), index=index)
                mae = evaluate_errors(committee, test)["forces_mae"]
                errors.setdefault(strategy, {}).setdefault(f"{labels}:{kind}", []).append(mae)
    table = {strategy: {key: round(float(np.mean(v)), 1) for key, v in rows.items()} for strategy, rows in errors.items()}
    (out / "per_kind.json").write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps(table, indent=1))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["all", "analyze", "kinds"])
    parser.add_argument("--out", type=Path, default=Path("runs/active_vs_random"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", nargs="+", default=None,
                        help="strategy:seed pairs to run in this process (e.g. active:0 random:1), instead of all")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--budget", type=int, default=10, help="labels per round")
    parser.add_argument("--finetune-epochs", type=int, default=FINETUNE["max_epochs"], help="epochs of each round's fine-tune")
    parser.add_argument("--min-steps", type=int, default=FINETUNE["min_steps"],
                        help="at least this many optimizer steps per fine-tune (0: --finetune-epochs always)")
    parser.add_argument("--finetune-schedule", choices=["cosine", "train"], default=FINETUNE["schedule"],
                        help="learning rate of each fine-tune: cosine decay, or the train config's plateau scheduler")
    parser.add_argument("--finetune-keep", choices=["last", "best"], default=FINETUNE["keep"],
                        help="model each fine-tune keeps: its last epoch, or its best on the validation split (base included)")
    parser.add_argument("--channels", type=int, default=TRAIN["model"]["num_channels"],
                        help="channels of each committee member (a new size wants a new --out)")
    parser.add_argument("--layers", type=int, default=TRAIN["model"]["num_layers"],
                        help="interaction layers of each committee member (a new size wants a new --out)")
    parser.add_argument("--committee-size", type=int, default=2,
                        help="members of each round's committee, both strategies (a new size wants a new --out)")
    parser.add_argument("--random-rounds", type=int, default=None, help="rounds of random selection (default: --rounds)")
    parser.add_argument("--pool-scale", type=int, default=1,
                        help="pool of 300 x this many frames, the same shares of each kind (a new scale wants a new --out)")
    parser.add_argument("--targets", type=float, nargs="+", default=None, help="test force MAE targets (meV/Å)")
    parser.add_argument("--figure", type=Path, default=None,
                        help="where the figure goes (default: <out>/active_vs_random.png; the docs' figures: docs/figures/...)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.step == "all":
        generate(args.out, args.pool_scale)
        runs = [run.split(":") for run in args.runs] if args.runs else [(s, seed) for seed in args.seeds
                                                                           for s in ("active", "random")]
        for strategy, seed in runs:
            rounds = args.random_rounds if strategy == "random" and args.random_rounds else args.rounds
            finetune = {"max_epochs": args.finetune_epochs, "min_steps": args.min_steps or None,
                        "schedule": args.finetune_schedule, "keep": args.finetune_keep}
            run_strategy(args.out, strategy, int(seed), rounds, args.budget, finetune,
                         model={"num_channels": args.channels, "num_layers": args.layers},
                         committee_size=args.committee_size)
    if args.step == "kinds":
        per_kind_errors(args.out)
        return
    analyze(args.out, args.targets, args.figure or args.out / "active_vs_random.png")


if __name__ == "__main__":
    main()
