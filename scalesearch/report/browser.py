"""A headless Chromium for the report: its DOM after the scripts ran, or a screenshot.

Started as on this project's machines (no sandbox as root, no background networking, which a
closed network refuses, a fresh profile), so that an offline page renders the same anywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from scalesearch.errors import ReportError

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",  # let plotly draw before the DOM or the picture is taken
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(
    page: Path | str, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Chromium on `page` (a file, or a URL) with `extra` flags (--dump-dom,
    --screenshot=...), in a fresh profile."""
    browser = find_chromium()
    if browser is None:
        raise ReportError("no Chromium found: apt install chromium (or put it on PATH)")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", *extra, _address(page)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _address(page: Path | str) -> str:
    return page if isinstance(page, str) else page.resolve().as_uri()


def screenshot(page: Path | str, png: Path, width: int = 1200, height: int = 2400) -> Path:
    """A picture of the page's top `height` pixels (the summary, the verdict, the frontier)."""
    png.parent.mkdir(parents=True, exist_ok=True)
    done = run_chromium(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
    if not png.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReportError(f"--screenshot: Chromium wrote no picture ({last})")
    return png
