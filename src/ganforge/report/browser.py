"""Headless Chromium, to check that a report renders: its DOM after the scripts ran, or a screenshot."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars", "--mute-audio"]
INSTALL = "install Debian's chromium: apt-get install chromium"


def find_chromium() -> str | None:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Chromium with `args` and a throw-away profile; its stderr (D-Bus, GPU and font chatter) is kept only
    for the error message of a failed run."""
    exe = find_chromium()
    if exe is None:
        raise UserError(f"no Chromium on PATH; {INSTALL}")
    with tempfile.TemporaryDirectory(prefix="ganforge-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired as e:
            raise UserError(f"Chromium did not finish within {timeout:g} s: {' '.join(cmd)}") from e
    if done.returncode != 0:
        tail = " | ".join(line for line in done.stderr.strip().splitlines()[-3:])
        raise UserError(f"Chromium exited with status {done.returncode}: {tail}")
    return done


def dump_dom(html: Path, timeout: float = 60, budget_ms: int = 5000) -> str:
    """The page's DOM after its scripts ran (and its load event fired) within `budget_ms` of virtual time."""
    done = _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", Path(html).resolve().as_uri()], timeout)
    return done.stdout


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 4000, timeout: float = 60) -> Path:
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    args = [
        f"--window-size={width},{height}",
        "--virtual-time-budget=5000",
        f"--screenshot={png}",
        Path(html).resolve().as_uri(),
    ]
    _run(args, timeout)
    if not png.is_file():
        raise UserError(f"Chromium wrote no screenshot to {png}")
    return png
