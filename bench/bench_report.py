"""What a benchmark prints, kept for its file in bench/results: one writer for every bench script.

Each benchmark prints its lines as it goes (long runs show progress) and writes the
same lines to ``bench/results/NAME`` at the end, next to the load average the
figures were measured under (the machine is shared: CPU timings depend on it).

>>> report = Report(echo=False)
>>> report("a line"); report()
>>> report.lines
['a line', '']
>>> len(load_average().split(", "))
3
"""

from __future__ import annotations

import os
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


class Report:
    """Call it with a line: printed (flushed) and kept; :meth:`write` saves every line kept."""

    def __init__(self, echo: bool = True):
        self.lines: list[str] = []
        self.echo = echo

    def __call__(self, text: str = "") -> None:
        if self.echo:
            print(text, flush=True)
        self.lines.append(text)

    def write(self, path) -> Path:
        """Write the lines to ``path`` (e.g. ``RESULTS / "serve.txt"``), one a line, UTF-8."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


def load_average(digits: int = 2) -> str:
    """The 1, 5 and 15 minute load averages, comma-separated."""
    return ", ".join(f"{x:.{digits}f}" for x in os.getloadavg())
