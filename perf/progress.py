"""Progress on stderr for runs longer than a few seconds, through tqdm.

On a terminal it is tqdm's bar, redrawn in place, with the rate and the time left. Anywhere else (a log, a
pipe, CI) it is a plain line ``[k/N] <what>, <elapsed> elapsed, <left> left`` at every tenth of the work,
with tqdm's own time formatting, so a log stays readable. JSON output stays alone on stdout.
"""

from __future__ import annotations

import sys
import threading
import time

from tqdm import tqdm

__all__ = ["Progress", "stage"]


class Progress:
    """``total`` steps of ``title``; :meth:`step` after each, naming what just finished."""

    def __init__(self, total: int, title: str, enabled: bool = True, stream=None):
        self.total, self.title, self.done = total, title, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.t0 = time.perf_counter()
        self.bar = (tqdm(total=total, desc=title, file=self.stream, leave=True, dynamic_ncols=True)
                    if self.enabled and self.stream.isatty() else None)

    def step(self, what: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(what, refresh=False)
            self.bar.update(1)
            if self.done >= self.total:
                self.bar.close()
            return
        if 10 * self.done // self.total > 10 * (self.done - 1) // self.total or self.done == 1:
            elapsed = time.perf_counter() - self.t0
            left = elapsed / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {self.title}: {what}, {tqdm.format_interval(elapsed)} elapsed, "
                  f"{tqdm.format_interval(left)} left", file=self.stream, flush=True)


class stage:
    """``with stage("building X"):`` prints ``[pam] building X`` on stderr at once, then a line every
    ``every_s`` seconds while the block runs (``[pam] building X: 20 s``), so no long step is silent. Stages
    nest: only the innermost one beats."""

    _open: list = []

    def __init__(self, what: str, every_s: float = 10.0, stream=None):
        self.what, self.every_s = what, every_s
        self.stream = stream or sys.stderr
        self._done = threading.Event()

    def _beat(self) -> None:
        while not self._done.wait(self.every_s):
            if stage._open and stage._open[-1] is self:
                print(f"[pam] {self.what}: {time.perf_counter() - self.t0:.0f} s", file=self.stream, flush=True)

    def __enter__(self) -> "stage":
        self.t0 = time.perf_counter()
        print(f"[pam] {self.what}", file=self.stream, flush=True)
        stage._open.append(self)
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        stage._open.remove(self)
