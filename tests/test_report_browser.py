"""The report in a real browser: headless Chromium (Debian's ``chromium`` package) opens each page, the page's own
check says every image loaded, and a screenshot shows a drawn page. Marked ``slow``; skipped, with the install
command, where Chromium is not installed (``apt-get install -y chromium``)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from matplotlib.image import imread
from report_fixtures import write_benchmark

from topobench.report.html_report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: apt-get install -y chromium (see README)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"]


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=False)


def _loaded(page) -> tuple[int, int]:
    """(images loaded, images) as the page's own load check reports them in the DOM Chromium rendered."""
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<body data-images-loaded="(\d+)/(\d+)"', dom.stdout)
    assert found, f"{page.name}: the page's load check did not run:\n{dom.stdout[:500]}"
    failed = dom.stdout.count('<p class="missing">image failed to load: ')
    assert failed == int(found[2]) - int(found[1])  # every failed image is marked on the page
    return int(found[1]), int(found[2])


def test_every_report_image_loads_in_headless_chromium(workspace):
    write_benchmark(workspace)
    out = workspace / "report"
    pages = write_report(out)
    for page in pages:
        images = len(re.findall(r"<img ", page.read_text()))
        assert _loaded(page) == (images, images), page.name
    dataset_page = pages[1]
    images = len(re.findall(r"<img ", dataset_page.read_text()))
    assert images >= 6

    shot = workspace / "shot.png"
    result = _chromium("--window-size=1400,2400", f"--screenshot={shot}", dataset_page.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1400)
    assert pixels[..., :3].std() > 0.05  # text and plots, not a blank page

    (out / "img" / f"{dataset_page.stem}-10-build-knn.png").unlink()  # the check does see a missing image
    assert _loaded(dataset_page) == (images - 1, images)
