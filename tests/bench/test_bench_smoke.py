"""Smoke test of the signaling benchmark: ``bench/signaling.py --quick`` runs to the end.

It starts its own server and client processes on loopback, so it runs as a subprocess.
Only the shape of the output is checked, never a speed: machines are shared and noisy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"
ROW = re.compile(
    rf"^(bare|sulh)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}",
    re.MULTILINE,
)


@pytest.mark.timeout(240)
def test_quick_bench_runs_and_prints_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "signaling.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for column in ("server", "cases", "clients", "median ms", "p99 ms", "events/s"):
        assert column in out, out
    rows = {(m[1], int(m[2])): m for m in ROW.finditer(out)}
    assert set(rows) == {("bare", 1), ("sulh", 1), ("bare", 5), ("sulh", 5)}, out
    for (_, cases), row in rows.items():
        clients, sent, delivered = int(row[3]), int(row[4]), int(row[5])
        median, p99, per_second = float(row[8]), float(row[9]), float(row[10])
        assert clients == 3 * cases
        assert sent > 0 and delivered > 0
        assert 0 < median <= p99
        assert per_second > 0
    assert "Ratios to the 1-case figures" in out
    assert "Sulh against the bare relay" in out
