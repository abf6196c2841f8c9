"""imagebot.filebytes.read: the same bytes as open().read(), for every size and for what fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagebot import filebytes


@pytest.mark.parametrize("size", [0, 1, 4095, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, 3 * (1 << 20) + 7])
def test_every_size_reads_back_whole(tmp_path: Path, size: int):
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert filebytes.read(str(tmp_path / "f")) == data


def test_what_open_would_refuse_is_an_oserror(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        filebytes.read(str(tmp_path / "missing"))
    with pytest.raises(IsADirectoryError):
        filebytes.read(str(tmp_path))


def test_no_descriptor_is_left_open(tmp_path: Path):
    (tmp_path / "f").write_bytes(b"x")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        filebytes.read(str(tmp_path / "f"))
        with pytest.raises(OSError):
            filebytes.read(str(tmp_path / "missing"))
    assert len(os.listdir("/proc/self/fd")) == before
