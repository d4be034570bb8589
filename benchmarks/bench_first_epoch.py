"""Where the time of a fresh `fit` goes: phases before training, and each epoch's training
batches in wall-clock and process CPU time (docs/performance.md, "The first epoch").

    python benchmarks/bench_first_epoch.py --channels 32 --threads 1 --epochs 2

CPU time is what to compare on a shared machine: wall time there measures the other
processes too (a two-thread step slowed 10x while another process ran; docs/performance.md).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import time

START = time.perf_counter()

import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402

import equipot.train.runner as runner  # noqa: E402
from equipot.config import TrainConfig  # noqa: E402


def stamp(text: str) -> None:
    print(f"{time.perf_counter() - START:8.2f} s  {text}", flush=True)


class BatchTimes(Callback):
    """Wall and CPU seconds of every training batch; a line per epoch."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.wall, self.cpu, self.usage = [], [], resource.getrusage(resource.RUSAGE_SELF)
        stamp(f"epoch {trainer.current_epoch + 1} starts")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.started = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.wall.append(time.perf_counter() - self.started[0])
        self.cpu.append(time.process_time() - self.started[1])

    def on_validation_start(self, trainer, pl_module) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        stamp(
            f"epoch {trainer.current_epoch + 1}: {len(self.wall)} batches, wall {sum(self.wall):.2f} s "
            f"(first {self.wall[0]:.3f}, median {statistics.median(self.wall):.3f}), CPU {sum(self.cpu):.2f} s "
            f"(median {statistics.median(self.cpu):.3f}); sys {usage.ru_stime - self.usage.ru_stime:.2f} s, "
            f"minor faults {usage.ru_minflt - self.usage.ru_minflt}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--out", default="/tmp/equipot_bench_first_epoch")
    args = parser.parse_args()
    stamp("imports")
    for name in ("prepare_run", "_has_unused_parameters"):
        original = getattr(runner, name)

        def timed(*a, _original=original, _name=name, **k):
            stamp(f"{_name} starts")
            result = _original(*a, **k)
            stamp(f"{_name} ends")
            return result

        setattr(runner, name, timed)
    build = runner.build_trainer
    runner.build_trainer = lambda config, paths, callbacks, unused=True: build(config, paths, [*callbacks, BatchTimes()], unused)
    config = TrainConfig.model_validate(
        {  # the demo's model and data (equipot.train.presets.demo_config), a fixed number of epochs
            "data": {"train_file": "shipped:ethanol", "n_valid": 100, "n_test": 300},
            "model": {"num_channels": args.channels, "lmax": 2, "num_layers": 2, "correlation": 3, "cutoff": 5.0},
            "loss": {"energy_weight": 1.0, "forces_weight": 10.0},
            "optimizer": {"name": "amsgrad", "lr": 0.01},
            "batch_size": args.batch_size,
            "max_epochs": args.epochs,
            "threads": args.threads,
            "accelerator": "cpu",
            "output_dir": args.out,
        }
    )
    shutil.rmtree(args.out, ignore_errors=True)
    runner.fit(config)
    stamp(f"fit returned (torch threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
