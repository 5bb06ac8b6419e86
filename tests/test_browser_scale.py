"""The Map at ML-20M size in a real browser (issue 23 point 2): a run over MovieLens 20M's
138,493 users and 26,744 items (hmf_dev.synthetic.ml20m_shaped, generated here, trained for one
epoch through the CLI without maps, so the page computes PCA itself) opens with every cluster
and a stated sample of users and items drawn with hovers over a density layer of all of them,
and a box selects every user and item inside it, drawn or not. Timings are printed and saved
with the screenshots (the figures that count are in benchmarks/results/maps.md)."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import hmf_cli
from test_browser import CHART, LONG, MAP_PLOT, SETTLED

from hmf_core import hover_rows, pca_map
from hmf_core.runs.rundir import RunDir
from hmf_dev.browser import (
    CHROMIUM_ARGS,
    SCREENSHOTS,
    Screenshots,
    require_chromium,
    streamlit_server,
)
from hmf_dev.synthetic import ml20m_shaped

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ml20m_run(tmp_path_factory):
    """runs/big: one epoch of HMF (the paper preset: one level of 200 / 100) on an
    ML-20M-shaped file with titles and genres; no maps (the page computes PCA)."""
    folder = tmp_path_factory.mktemp("ml20m-shaped")
    paths = ml20m_shaped(folder / "data")
    runs = folder / "runs"
    finished = hmf_cli(
        "train",
        "--data",
        paths["ratings"],
        "--items",
        paths["items"],
        "--split",
        "random",
        "--max-epochs",
        1,
        "--preset",
        "paper",
        "--no-projection",
        "--run-dir",
        runs / "big",
        timeout=900,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return runs


DRAWN = f"""() => {{
  // What the map draws: points per trace (the density layer's cells), once the chart is there.
  const plot = {MAP_PLOT};
  if (!plot || !plot._fullData) return null;
  const found = {{}};
  for (const trace of plot._fullData) {{
    if (trace.type === 'heatmap') found[trace.name] = trace.z.length * trace.z[0].length;
    else if (trace.x && trace.x.length && trace.x[0] !== null) found[trace.name] = trace.x.length;
  }}
  return found;
}}"""
BOX = f"""() => {{
  // A box over the middle 40 % of the drawn users' screen positions in each direction (inside
  // the plot area), and the drawn points inside it.
  const plot = {MAP_PLOT};
  const xaxis = plot._fullLayout.xaxis, yaxis = plot._fullLayout.yaxis;
  const frame = plot.getBoundingClientRect();
  const users = plot._fullData.find((t) => t.name === 'user');
  const px = (x) => frame.left + xaxis._offset + xaxis.l2p(x);
  const py = (y) => frame.top + yaxis._offset + yaxis.l2p(y);
  const q = (v, f) => v.sort((a, b) => a - b)[Math.floor(f * (v.length - 1))];
  const xs = Array.from(users.x, px), ys = Array.from(users.y, py);
  const [x0, y0] = [frame.left + xaxis._offset + 20, frame.top + yaxis._offset + 20];
  const [x1, y1] = [x0 + xaxis._length - 40, y0 + yaxis._length - 40];
  const clip = (v, low, high) => Math.min(Math.max(v, low), high);
  const [left, top] = [clip(q(xs, 0.3), x0, x1), clip(q(ys, 0.3), y0, y1)];
  const [right, bottom] = [clip(q(xs, 0.7), x0, x1), clip(q(ys, 0.7), y0, y1)];
  let drawnInside = 0, clustersInside = 0;
  for (const trace of plot._fullData) {{
    if (!['user', 'item', 'user cluster', 'item cluster'].includes(trace.name)) continue;
    for (let i = 0; i < trace.x.length; i++) {{
      const [x, y] = [px(trace.x[i]), py(trace.y[i])];
      if (x >= left && x <= right && y >= top && y <= bottom) {{
        if (trace.name.endsWith('cluster')) clustersInside++; else drawnInside++;
      }}
    }}
  }}
  return {{pixels: [left, top, right, bottom], drawnInside, clustersInside}};
}}"""
SELECTED_BOX = f"""() => {{
  // The box the chart selected, in data coordinates (the layout's selection).
  const plot = {MAP_PLOT};
  const found = plot && plot._fullLayout.selections;
  if (!found || !found.length) return null;
  const s = found[found.length - 1];
  return {{x: [s.x0, s.x1], y: [s.y0, s.y1]}};
}}"""


def test_the_map_at_ml20m_size_draws_a_sample_over_every_point_and_a_box_takes_all(
    ml20m_run, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    chromium = require_chromium()
    run = RunDir(ml20m_run / "big")
    users, items = run.users(), run.items()
    objects = len(users) + len(items)
    assert objects > 160_000  # ML-20M's shape: 138,493 users and 26,744 items, less cold ones
    timings = {}
    shots = SCREENSHOTS / "map-ml20m"
    with streamlit_server(ml20m_run, tmp_path / "streamlit.log") as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(LONG)
            shot = Screenshots(page, shots)
            try:
                started = time.perf_counter()
                page.goto(f"{url}/map?run=big")
                caption = page.get_by_text(re.compile(r"users and items \(a sample in proportion"))
                expect(caption).to_be_visible(timeout=LONG)
                drawn = page.wait_for_function(DRAWN, timeout=LONG).json_value()
                page.wait_for_function(SETTLED)
                timings["first visit: page opened to map drawn s"] = time.perf_counter() - started

                # Every cluster and a sample of users and items, over a density layer.
                shown, total = re.search(
                    r"and ([\d,]+) of the ([\d,]+) users and items", caption.inner_text()
                ).groups()
                shown, total = int(shown.replace(",", "")), int(total.replace(",", ""))
                assert total == objects
                assert drawn["user"] + drawn["item"] == shown
                assert 1_000 <= shown <= 20_000 < objects
                assert drawn["user cluster"] == 200 and drawn["item cluster"] == 100
                assert drawn["density"] > 1_000  # cells
                page.locator(CHART).scroll_into_view_if_needed()
                shot("map-ml20m-opened")

                # The sample is hmf_core's: the same rows at every draw.
                model = run.load_model()
                frame = pca_map(model, users, items)
                assert int(hover_rows(frame, shown + 300).sum()) >= shown  # limit incl. clusters

                # A reload (the server's caches warm) draws the same sample.
                started = time.perf_counter()
                page.reload()
                expect(caption).to_be_visible(timeout=LONG)
                again = page.wait_for_function(DRAWN, timeout=LONG).json_value()
                page.wait_for_function(SETTLED)
                timings["reload: page opened to map drawn s"] = time.perf_counter() - started
                assert again == drawn

                # A box over the middle of the users selects every user and item inside it.
                chart = page.locator(CHART)
                chart.scroll_into_view_if_needed()
                chart.hover()
                chart.locator("[data-title='Box Select']").click()
                page.wait_for_timeout(300)
                box = page.evaluate(BOX)
                left, top, right, bottom = box["pixels"]
                page.mouse.move(left, top)
                page.mouse.down()
                page.mouse.move(right, bottom, steps=10)
                started = time.perf_counter()
                page.mouse.up()
                region = page.wait_for_function(SELECTED_BOX).json_value()
                heading = page.get_by_role("heading", name=re.compile(r"^[\d,]+ points selected$"))
                expect(heading).to_be_visible(timeout=LONG)
                page.wait_for_function(SETTLED)
                timings["box select s"] = time.perf_counter() - started
                summary = page.get_by_text(re.compile(r"Clusters first, largest")).inner_text()
                caught = re.findall(r"([\d,]+) (?:user|item)s?(?=[,.])", summary)  # not clusters
                users_items = sum(int(count.replace(",", "")) for count in caught)
                (x0, x1), (y0, y1) = region["x"], region["y"]
                inside = frame[
                    (frame["level"] == 0)
                    & frame["x"].between(min(x0, x1), max(x0, x1))
                    & frame["y"].between(min(y0, y1), max(y0, y1))
                ]
                assert len(inside) > 5 * box["drawnInside"] > 0  # most were not drawn
                assert len(inside) < 0.8 * objects  # a part of the map
                # Every user and item inside (float32 on screen: one on the edge may differ),
                # beside the clusters the box caught.
                assert abs(users_items - len(inside)) <= 3, (users_items, box, len(inside))
                page.locator(CHART).scroll_into_view_if_needed()
                shot("map-ml20m-box-selected")
                assert page.get_by_test_id("stException").count() == 0
            finally:
                page.screenshot(path=str(shots / "last-state.png"))
                browser.close()
    timings = {name: round(value, 2) for name, value in timings.items()}
    (shots / "timings.json").write_text(json.dumps(timings, indent=2))
    print("ML-20M-size map timings (s)", timings)
