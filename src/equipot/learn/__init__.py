"""Active learning: `run_active_learning` trains, explores with MD, selects uncertain and
diverse frames, labels them with a reference method (`LABELLERS`) and stores every
structure with its provenance in an ASE database. See docs/active_learning.md.
"""

from .labellers import LABELLERS, LabelError, label, make_labeller
from .loop import LearnHooks, LearnResult, run_active_learning
from .selection import farthest_point_sampling, score_frames, select_frames
from .state import REPORT_COLUMNS, LearnState, read_report
from .store import LearnStore, StoreLock

__all__ = [
    "LABELLERS",
    "REPORT_COLUMNS",
    "LabelError",
    "LearnHooks",
    "LearnResult",
    "LearnState",
    "LearnStore",
    "StoreLock",
    "farthest_point_sampling",
    "label",
    "make_labeller",
    "read_report",
    "run_active_learning",
    "score_frames",
    "select_frames",
]
