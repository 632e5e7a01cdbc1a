"""The reports as a reader sees them: rendered in headless Chromium at 1280 and 800 px.

A run, a comparison, a sweep and an optimisation of tiny scenarios are written by the command line and
opened in Chromium (Playwright).  In each, no two pieces of text in the summary, the KPI
tiles, the definition lists or the headline tables overlap; every term of a definition list
sits on the row of its value; nothing in them is wider than its box (no clipped text); the
headline tables fit without scrolling and the page never scrolls sideways.  A control page
with a deliberate overlap proves the check can fail.

The test fails (never skips) when Chromium is missing: ``make test`` installs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from channelsim import cli
from channelsim.sweep_cli import write_report
from experiments.backends import InProcess
from experiments.design import load_experiment
from experiments.runner import run_experiment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# a year: enough months for money in the millions and long numbers in the tables
TINY = ["--months", "12", "--set", "market.n_accounts=2000", "--set", "partners.n_initial=30",
        "--set", "time.warmup_months=2"]
WIDTHS = (1280, 800)

#: Collects the text boxes of the parts a reader reads first and reports overlaps and overflows.
LAYOUT_JS = """
() => {
  const sel = '.summary h2, .summary p, .tile > div, dl dt, dl dd, table.kpis th, table.kpis td, h1';
  const els = Array.from(document.querySelectorAll(sel)).filter(e => e.textContent.trim().length);
  const boxes = els.map(e => {
    const r = document.createRange(); r.selectNodeContents(e);
    const rects = Array.from(r.getClientRects()).filter(b => b.width > 0 && b.height > 0);
    return {e, rects};
  });
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.e.contains(b.e) || b.e.contains(a.e)) continue;
      for (const p of a.rects) for (const q of b.rects) {
        const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
        const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
        if (w > 1 && h > 1)
          overlaps.push(a.e.textContent.trim().slice(0, 40) + ' | ' + b.e.textContent.trim().slice(0, 40));
      }
    }
  }
  const clipped = [];
  const boxesToCheck = document.querySelectorAll(
    '.summary, .summary p, .tiles, .tile, .tile > div, dl, dl > div, dt, dd, h1, h2');
  for (const e of boxesToCheck) {
    if (e.scrollWidth > e.clientWidth + 1)
      clipped.push(e.tagName + '.' + e.className + ': ' + e.textContent.trim().slice(0, 50));
  }
  const tables = [];
  for (const t of document.querySelectorAll('table.kpis')) {
    const w = t.closest('.wide') || t.parentElement;
    if (w.scrollWidth > w.clientWidth + 1)
      tables.push(t.rows[0].textContent.slice(0, 60) + ' ' + w.scrollWidth + ' > ' + w.clientWidth);
  }
  const misaligned = [];
  for (const dt of document.querySelectorAll('dl dt')) {
    const dd = dt.nextElementSibling;
    if (!dd || dd.tagName !== 'DD') { misaligned.push(dt.textContent + ': no value'); continue; }
    const a = dt.getBoundingClientRect(), b = dd.getBoundingClientRect();
    if (Math.abs(a.top - b.top) > 2 && !(b.top >= a.bottom - 1 && Math.abs(a.left - b.left) < 2))
      misaligned.push(dt.textContent + ' / ' + dd.textContent.slice(0, 30));
  }
  const imgs = Array.from(document.images);
  const de = document.documentElement;
  return {n: els.length, overlaps, clipped, tables, misaligned,
          page: [de.scrollWidth, de.clientWidth],
          images: imgs.filter(i => !i.complete || i.naturalWidth === 0).length,
          wide_images: imgs.filter(i => i.getBoundingClientRect().right > de.clientWidth + 1).length};
}
"""


def _invoke(*args: object) -> None:
    res = CliRunner().invoke(cli.app, [str(a) for a in args])
    assert res.exit_code == 0, res.output + (res.stderr or "")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """report.html of a run, a comparison (paired, 2 replications), a sweep and an optimisation, all tiny."""
    root = tmp_path_factory.mktemp("reports")
    _invoke("run", "baseline", *TINY, "--seed", "5", "-r", "2", "--out", root / "base")
    _invoke("run", "rebate_boost", *TINY, "--seed", "5", "-r", "2", "--out", root / "rebate")
    _invoke("compare", root / "base", root / "rebate", "--out", root / "cmp")
    # one replication each, two runs of one scenario: named by their (long) folders, no intervals
    _invoke("run", "baseline", *TINY, "--seed", "5", "--out", root / "baseline_reference_run")
    _invoke("run", "baseline", *TINY, "--seed", "5", "--set", "incentives.mdf.scale=1.5",
            "--out", root / "baseline_with_mdf_one_and_a_half")
    _invoke("compare", root / "baseline_reference_run", root / "baseline_with_mdf_one_and_a_half",
            "--out", root / "cmp_one")
    exp = {"name": "tiny_sweep", "description": "a long description " * 6, "base": "baseline", "seed": 1,
           "overrides": {"market.n_accounts": 2000, "partners.n_initial": 30, "time.months": 4,
                         "time.warmup_months": 2},
           "replications": 2, "factors": {"incentives.discount_scale": {"low": 0.6, "high": 1.4},
                                          "incentives.spiff.amount": {"low": 0.0, "high": 2000.0}},
           "design": {"kind": "full_factorial", "n_levels": 2}, "outputs": {"summary": ["gross_profit", "partner_nps"]}}
    (root / "e.yaml").write_text(yaml.safe_dump(exp))
    run_experiment(load_experiment(root / "e.yaml"), root / "sweep", InProcess())
    sweep_report = write_report(root / "sweep")
    _invoke("optimise", "baseline", "--budget", "5e6", "--cells", "all:discount,gold:rebate", "--levels", "0,1,2",
            "--replications", "2", "--workers", "1", *TINY, "--out", root / "opt")
    return {"run": root / "base" / "report.html", "compare": root / "cmp" / "report.html",
            "compare_one": root / "cmp_one" / "report.html",
            "sweep": sweep_report, "optimise": root / "opt" / "report.html"}


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), "Chromium is missing: run `make chromium` (apt-get install -y chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _layout(browser, path: Path, width: int, css: str = "") -> dict:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(path.resolve().as_uri())
        if css:
            page.add_style_tag(content=css)
        return page.evaluate(LAYOUT_JS)
    finally:
        page.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["run", "compare", "compare_one", "sweep", "optimise"])
def test_report_text_neither_overlaps_nor_is_clipped(browser, reports, kind, width):
    got = _layout(browser, reports[kind], width)
    assert got["n"] > 30  # the summary, the tiles, the facts and the headline table were found
    assert got["overlaps"] == [], got["overlaps"][:5]
    assert got["clipped"] == [], got["clipped"][:5]
    assert got["tables"] == [], got["tables"]
    assert got["misaligned"] == [], got["misaligned"][:5]
    assert got["page"][0] <= got["page"][1], "the page scrolls sideways"
    assert got["images"] == 0 and got["wide_images"] == 0


def test_the_layout_check_finds_overlaps_clipping_and_unpaired_terms(browser, reports):
    # The same compare page with tiles' text pulled onto each other, a term forced off its value's row
    # and a summary paragraph that cannot wrap: each is reported.
    broken = ".tile .value { margin-top: -1.6em; } dl > div:first-child dd { margin-top: 3em; display: block; } " \
             ".summary p:first-of-type { white-space: nowrap; overflow: hidden; }"
    got = _layout(browser, reports["compare"], 800, css=broken)
    assert got["overlaps"] and got["clipped"] and got["misaligned"]
