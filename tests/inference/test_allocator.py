"""keep_freed_memory: large freed blocks stay in the heap (glibc's mallinfo2 shows where)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from equipot.inference import allocator

# A 40 MB block: above glibc's largest automatic mmap threshold (32 MiB), so without the
# setting it is always mmapped, and with it always served from the heap.
_PROBE = """
import ctypes
import torch
from equipot import keep_freed_memory

class MallocInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallocInfo

def block_is_mmapped():
    before = libc.mallinfo2().hblkhd
    block = torch.empty(10 * 2**20)  # 40 MB of float32
    mmapped = libc.mallinfo2().hblkhd > before
    del block
    return mmapped

print(block_is_mmapped(), keep_freed_memory(), block_is_mmapped())
"""


def _has_mallinfo2() -> bool:
    try:
        import ctypes

        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _has_mallinfo2(), reason="needs glibc >= 2.33")
def test_large_blocks_come_from_the_heap_after_keep_freed_memory():
    # a fresh process: the setting lasts for the rest of a process
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["True", "True", "False"]


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def test_a_tiny_threshold_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="at least 1 MiB"):
        allocator.keep_freed_memory(4096)
