"""Run the test suite (``make test``): pytest with the given arguments, in a child process.

If the child process is killed by a signal (a segmentation fault, not a failing test), say so
loudly and run the suite once more. Why: a rare crash inside Qt's event loop while a worker
thread builds a model has been seen a few times in this session's ~10 full runs (always in a
different Qt-threaded test, never reproduced alone); its root cause is still open (see the
closing notes and docs/VIEWER.md). A failing test is never retried: its exit status is final.
"""

import signal
import subprocess
import sys


def _run(args):
    return subprocess.call([sys.executable, "-m", "pytest", *args])


def main() -> int:
    args = sys.argv[1:]
    rc = _run(args)
    if rc < 0 or rc > 128:   # killed by a signal (negative from subprocess, 128+N from a shell)
        num = -rc if rc < 0 else rc - 128
        try:
            name = signal.Signals(num).name
        except ValueError:
            name = f"signal {num}"
        print(f"\n*** the test process died of {name} (not a test failure): the known rare crash in a "
              "Qt-threaded test; running the whole suite once more ***\n", flush=True)
        rc = _run(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
