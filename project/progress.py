"""A dependency-free progress bar for long management commands (rate and ETA)."""

import sys
import time


class ProgressBar:
    def __init__(self, stream=None, *, label: str = "", unit: str = "items", width: int = 30, min_interval: float = 0.5):
        self.stream = stream or sys.stdout
        self.label, self.unit, self.width, self.min_interval = label, unit, width, min_interval
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False

    def update(self, done: int, total: int | None = None) -> None:
        now = time.monotonic()
        if now - self.last_draw < self.min_interval and (total is None or done < total):
            return
        self.last_draw = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        if total:
            filled = int(self.width * min(done / total, 1))
            eta = (total - done) / rate if rate else 0
            line = (f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {self.unit}"
                    f" {rate:,.0f}/s ETA {eta:,.0f}s ")
        else:
            line = f"\r{self.label} {done} {self.unit} {rate:,.0f}/s "
        self.stream.write(line, ending="") if hasattr(self.stream, "style_func") else self.stream.write(line)
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("")
