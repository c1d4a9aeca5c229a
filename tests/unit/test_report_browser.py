"""The HTML report in a real browser: Debian's headless chromium, driven by selenium through Debian's
chromedriver, opens (file://) a report written by render.write_all from results the runner's own code made
(tests/report_results.py: helper records -> Timeline -> runner._figures), and from index.html on, on every
page it reaches:
- every <a href> and <img src> resolves: a file that exists, and an #anchor that exists in its page;
- every picture renders: each <img> decoded with a non-zero size; each SVG file, opened itself, is an <svg>
  document (no XML parse error) whose drawing has a non-zero bounding box;
- the browser logs no console message of level WARNING or SEVERE;
- index.html's table has one row per scenario, in order.
The same checks on a report with a broken link, a broken anchor and a broken SVG find each of them.
With BONDLAB_REPORT_SCREENSHOTS=DIR the pages' screenshots go to DIR (PNG) for a person to look at.

Chromium and its driver are Debian packages `bondlab doctor --fix` installs (./dev test runs it first); the
test is skipped only where they are missing and cannot be installed (not root), and fails where they could.
"""

from __future__ import annotations

import base64
import os
import shutil
from urllib.parse import unquote, urlsplit

import pytest

from bondlab.report import render
from tests import report_results

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# headless as root, on a machine with no network: nothing of the browser's own calls home
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,900",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        message = (
            f"{' and '.join(missing)} missing: `bondlab doctor --fix` installs chromium, chromium-driver"
        )
        if os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message + " (as root; this user cannot)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={home / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # its caches and dconf go to the test's directory too, not the user's ~/.cache
    env = {**os.environ, "XDG_CACHE_HOME": str(home / "cache"), "XDG_CONFIG_HOME": str(home / "config")}
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    results = report_results.results()
    directory = tmp_path_factory.mktemp("report")
    return results, render.write_all(results, str(directory))["html"]


LINKS = "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
IMAGES = (
    "return [...document.images].map(i => [i.src, i.complete && i.naturalWidth > 0 && i.naturalHeight > 0])"
)
SVG_DRAWN = """
const root = document.documentElement;
if (root.namespaceURI !== 'http://www.w3.org/2000/svg' || root.localName !== 'svg'
    || document.getElementsByTagName('parsererror').length) return 'not an SVG document: '
    + (document.body ? document.body.innerText : root.textContent).slice(0, 200);
const box = root.getBBox(), frame = root.getBoundingClientRect();
if (!(box.width > 0 && box.height > 0 && frame.width > 0 && frame.height > 0))
    return `empty drawing: bbox ${box.width}x${box.height}, frame ${frame.width}x${frame.height}`;
return '';
"""


def check(driver, index: str) -> list:
    """Problems found on the pages reachable from `index` (a file path): the module docstring's checks."""
    problems, pending, seen = [], ["file://" + index], set()
    while pending:
        url = pending.pop(0)
        if url in seen:
            continue
        seen.add(url)
        driver.get(url)
        name = os.path.basename(urlsplit(url).path)
        if name.endswith(".svg"):
            drawn = driver.execute_script(SVG_DRAWN)
            problems += [f"{name}: {drawn}"] if drawn else []
        else:
            images = driver.execute_script(IMAGES)
            problems += [f"{name}: image {src} not rendered" for src, ok in images if not ok]
            for target in driver.execute_script(LINKS) + [src for src, _ in images]:
                problems += _resolve(driver, name, target, pending)
        problems += [
            f"{name}: console {entry['level']}: {entry['message']}"
            for entry in driver.get_log("browser")
            if entry["level"] in ("WARNING", "SEVERE")
        ]
    return problems


def _resolve(driver, page: str, target: str, pending: list) -> list:
    parts = urlsplit(target)
    if parts.scheme != "file":
        return [f"{page}: link {target} leaves the report"]
    path = unquote(parts.path)
    if not os.path.isfile(path):
        return [f"{page}: link {target}: no such file"]
    if parts.fragment:
        anchors = driver.execute_script(
            "return [...document.querySelectorAll('[id],a[name]')].map(e => e.id || e.name)"
        )
        if os.path.basename(path) != page:  # an anchor in another page: checked when that page is open
            pending.append(target)
        elif parts.fragment not in anchors:
            return [f"{page}: link #{parts.fragment}: no such anchor"]
    elif path.endswith((".html", ".svg")):
        pending.append(target)
    return []


def test_every_page_link_and_picture_of_the_report_works_in_chromium(browser, report):
    results, index = report
    assert check(browser, index) == []
    browser.get("file://" + index)
    rows = browser.execute_script(
        "return [...document.querySelectorAll('table tr')].slice(1).map(r => r.cells[0].textContent)"
    )
    assert rows == [r.name for r in results]
    pages = sorted(p for p in os.listdir(os.path.dirname(index)) if p.endswith(".html"))
    assert len(pages) == 1 + sum(bool(r.timeline) for r in results)  # index + a timeline page each
    shots = os.environ.get("BONDLAB_REPORT_SCREENSHOTS")  # for a person to look at (CI artifacts)
    if shots:
        os.makedirs(shots, exist_ok=True)
        for page in pages:
            browser.get("file://" + os.path.join(os.path.dirname(index), page))
            full_page_png(browser, os.path.join(shots, page.replace(".html", ".png")))


def full_page_png(driver, path: str) -> None:
    """The whole page, not the window's height (headless chromium's window cannot grow past its screen)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
    with open(path, "wb") as stream:
        stream.write(base64.b64decode(shot["data"]))


def test_the_checks_find_a_missing_file_a_missing_anchor_a_broken_svg_and_a_console_error(
    browser, report, tmp_path
):
    _results, index = report
    copy = tmp_path / "report"
    shutil.copytree(os.path.dirname(index), copy)
    page = (copy / "index.html").read_text()
    page = page.replace("junit.xml", "gone.xml").replace("<table>", "<a href=#nowhere>x</a><table>", 1)
    page += "<script>console.error('boom')</script>"
    (copy / "index.html").write_text(page)
    svg = next(copy.glob("cut-active-*-1.svg"))
    svg.write_text(svg.read_text().replace("</svg>", ""))  # not well-formed XML
    problems = check(browser, str(copy / "index.html"))
    assert any("gone.xml: no such file" in p for p in problems)
    assert any("#nowhere: no such anchor" in p for p in problems)
    assert any(p.startswith("index.html: console SEVERE") and "boom" in p for p in problems)
    assert any(p.startswith(f"{svg.name}: not an SVG document") for p in problems)
    assert any(f"image file://{svg}" in p for p in problems), problems
