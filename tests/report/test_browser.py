"""report.html renders in headless Chromium: no console errors, every <img> decodes.

The report itself has no JavaScript. The test loads a copy with a small probe script added at the
top of <head>: it records console.error calls and error events (script errors and failed image
loads, which fire `error` on the element and are caught in the capture phase), and on `load`
writes the list of images with naturalWidth == 0 into the DOM, which `--dump-dom` then prints.
Chromium's own log (`--enable-logging=stderr`) is also checked for CONSOLE lines. A deliberately
broken copy proves the probe can fail.

Needs the `chromium` binary (Debian: `apt-get install -y chromium`); skipped when it is absent.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from headstart.report.html import write_report

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install -y chromium)"),
]

PROBE = """<script>
window.__problems = [];
(function () {
  var original = console.error;
  console.error = function () {
    window.__problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var where = e.target && e.target.tagName ? e.target.tagName + " " + (e.target.alt || "") : "";
    window.__problems.push("error: " + (e.message || where));
  }, true);
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                       .map(function (i) { return i.alt; });
    var out = document.createElement("pre");
    out.id = "probe-result";
    out.textContent = JSON.stringify({images: images.length, broken: broken, problems: window.__problems});
    document.body.appendChild(out);
  });
})();
</script>"""
RESULT = re.compile(r'<pre id="probe-result">(.*?)</pre>', re.S)


def chromium_args(user_data_dir: Path) -> list[str]:
    """Flags that work as root in a container with no GPU, no D-Bus and no network."""
    return [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={user_data_dir}", "--hide-scrollbars",
    ]


def probe(page: Path, tmp_path: Path) -> tuple[dict, str]:
    """Load ``page`` with the probe added; return the probe's JSON and chromium's stderr."""
    probed = page.with_name(page.stem + ".probe.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    profile = tmp_path / f"profile-{page.stem}"
    profile.mkdir()
    done = subprocess.run(
        [*chromium_args(profile), "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
         "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=90, check=False,
    )
    found = RESULT.search(done.stdout)
    assert found, f"probe produced no result (rc={done.returncode}):\n{done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), done.stderr


def test_report_renders_without_errors(image_run: Path, tmp_path: Path) -> None:
    report = write_report(image_run)
    result, log = probe(report, tmp_path)
    assert result["images"] == 9  # 5 plots + 4 thumbnails
    assert result["broken"] == []
    assert result["problems"] == []
    assert "CONSOLE" not in log


def test_text_report_renders_without_errors(text_run: Path, tmp_path: Path) -> None:
    result, log = probe(write_report(text_run), tmp_path)
    assert result["images"] == 4 and result["broken"] == [] and result["problems"] == []
    assert "CONSOLE" not in log


def test_probe_catches_a_broken_image(image_run: Path, tmp_path: Path) -> None:
    broken = image_run / "broken.html"
    page = write_report(image_run).read_text(encoding="utf-8")
    broken.write_text(page.replace("</main>", '<img src="data:image/png;base64,AAAA" alt="bad"></main>'), encoding="utf-8")
    result, _ = probe(broken, tmp_path)
    assert result["broken"] == ["bad"]
    assert any("IMG bad" in p for p in result["problems"])
