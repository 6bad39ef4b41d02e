"""Child-process helpers: a long-lived child's stderr is kept as a bounded tail."""

from __future__ import annotations

import subprocess
import sys

from workers.executors.processes import StderrTail

NOISY = (
    "import sys\n"
    "for i in range(20000):\n"
    "    sys.stderr.write(f'worker log line {i:05d} ' + 'x' * 80 + '\\n')\n"
    "sys.stderr.write('Traceback: the last words\\n')\n"
)


def test_a_child_writing_megabytes_to_stderr_keeps_a_bounded_tail() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", NOISY], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    tail = StderrTail(process.stderr, keep=4096)
    assert process.wait(timeout=60) == 0
    text = tail.text(limit=300)
    assert text.endswith("Traceback: the last words")
    assert "worker log line 19999" in text and len(text) <= 300
    # ~2 MB went through; at most twice `keep` was ever held
    assert len(tail._buffer) <= 2 * 4096
