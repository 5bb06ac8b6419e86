"""Timed clicks in a real browser: a Playwright tab on the app and every kind of click that
changes a view (page switches, the map's colouring and cluster clicks, clusters picked on
Cluster affinity and Membership, a user and an item on Explain, Metrics, reloads), each timed
from the click to the view settled.

Settled = the server has sent the "script finished" message of a run (or fragment run) started
after the click (read from the page's websocket), the element that shows the new view is
visible, the app root's `data-test-script-state` is notRunning (Streamlit's running indicator
gone), and the browser has painted twice since. benchmarks/latency.py repeats each kind and
reports p50 / p95; the browser test (tests/test_browser.py) makes each kind once.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path

from hmf_core.models.registry import FAMILIES

PAGES = (
    "Data",
    "Train",
    "Map",
    "Cluster affinity",
    "Membership",
    "Explain",
    "Metrics",
    "Compare runs",
)
# Every kind of click the benchmark times, in the order it runs them (reports list them so).
KINDS = (
    *(f"page: {page}" for page in PAGES),
    "map: colour by",
    "map: click a cluster",
    "affinity: pick a cluster",
    "membership: pick a cluster",
    "explain: pick a user",
    "explain: pick an item",
    "metrics: open",
    "reload: finished run",
    "reload: while training",
)
LONG = 300_000  # ms: training and maps on a busy 2-core machine
CLICK = 30_000  # ms: a click that has not settled by then is broken, not slow
PROBE = 3_000  # ms: a searched picker shows a listed option by then (drawn in the browser)

IDLE = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  return app !== null && app.dataset.testScriptState === 'notRunning';
}"""
INTERPRETABLE = "Interpretable (crisp clusters)"  # dashboard.recipe.PRESET_LABELS' label
FRESH_MAP = ".st-key-map_chart[data-stale='false']"  # a rerun keeps the old chart until done
MAP_LAID_OUT = f"""() => {{
  const plot = document.querySelector("{FRESH_MAP} .js-plotly-plot");
  return Boolean(plot && plot._fullLayout && plot._fullLayout.xaxis && plot._fullData);
}}"""
HOVER_LABEL = "(chart) => chart.querySelector('.hoverlayer .hovertext')?.textContent || ''"
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"

ISOLATED_MARKERS = """(chart, [kind, count]) => {
  // Up to `count` markers of `kind`, the most isolated first (a click there cannot land on
  // a neighbour), inside the plot area, with their page coordinates and model index.
  const plot = chart.querySelector('.js-plotly-plot');
  const xaxis = plot._fullLayout.xaxis, yaxis = plot._fullLayout.yaxis;
  const box = plot.getBoundingClientRect();
  const points = [];
  plot._fullData.forEach((trace) => {
    // points only: a heatmap's x and y are its cells' edges (of two lengths), and a point at
    // NaN made every gap NaN, so the markers came in no order (not the most isolated first)
    if (trace.visible !== true || !trace.x || !trace.type.startsWith('scatter')) return;
    for (let i = 0; i < trace.x.length; i++) {
      if (trace.x[i] === null || trace.x[i] === undefined) continue;
      const custom = trace.customdata ? trace.customdata[i] : null;  // [kind, level, index..]
      const x = box.left + xaxis._offset + xaxis.l2p(trace.x[i]);
      const y = box.top + yaxis._offset + yaxis.l2p(trace.y[i]);
      if (Number.isFinite(x) && Number.isFinite(y)) {
        points.push({kind: trace.name, index: custom ? custom[2] : -1, x, y});
      }
    }
  });
  const left = box.left + xaxis._offset + 40, right = left + xaxis._length - 80;
  const top = Math.max(box.top + yaxis._offset + 50, 0);  // and inside the window: the mouse
  const bottom = Math.min(box.top + yaxis._offset + yaxis._length - 40, window.innerHeight - 10);
  const found = [];
  for (const point of points) {
    if (point.kind !== kind || point.x < left || point.x > right) continue;
    if (point.y < top || point.y > bottom) continue;
    let nearest = Infinity;
    for (const other of points) {
      if (other !== point) nearest = Math.min(nearest, Math.hypot(other.x - point.x,
                                                                  other.y - point.y));
    }
    found.push({...point, gap: nearest});
  }
  found.sort((a, b) => b.gap - a.gap);
  return found.slice(0, count);
}"""


def expect_value(container, value) -> None:
    """A selectbox (in `container`) shows `value`."""
    from playwright.sync_api import expect

    expect(container.locator("input")).to_have_value(value)


Upload = Path | dict  # a file on disk, or a Playwright file payload


def _input_file(file: Upload):
    return str(file) if isinstance(file, Path) else file


class Clicks:
    """A browser tab on the app and the latencies of the clicks made through it (seconds,
    by kind)."""

    def __init__(self, page, url: str, runs_dir: Path | None = None):
        self.page = page
        self.url = url
        self.runs_dir = runs_dir
        self.times: dict[str, list[float]] = defaultdict(list)
        # Seconds from the click to the server's "script finished" (the rest is the browser).
        self.server: dict[str, list[float]] = defaultdict(list)
        self.misses = 0  # map clicks that selected nothing (not timed)
        self.trainings: dict[str, dict[str, float]] = {}  # run -> epoch seconds (`train`)
        self.finished = {"script": 0, "any": 0}  # script runs the server reported finished
        page.on("websocket", lambda socket: socket.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        """Count the server's "script finished" messages (Streamlit's protobuf ForwardMsg)."""
        from google.protobuf.message import DecodeError
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        message = ForwardMsg()
        try:
            message.ParseFromString(payload)
        except DecodeError:
            return
        if message.WhichOneof("type") != "script_finished":
            return
        status = ForwardMsg.ScriptFinishedStatus.Name(message.script_finished)
        if status in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"):
            self.finished["any"] += 1
        if status == "FINISHED_SUCCESSFULLY":
            self.finished["script"] += 1

    def _wait_finished(self, which: str, before: int, timeout_ms: int) -> None:
        deadline = time.perf_counter() + timeout_ms / 1000
        while self.finished[which] <= before:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no script run finished within {timeout_ms / 1000:g} s")
            self.page.wait_for_timeout(5)  # lets Playwright deliver the socket's frames

    def timed(self, kind: str, click, settled, which: str = "any", timeout: int = CLICK) -> float:
        """Seconds from `click()` to: the script run (or fragment run) it started reported
        finished by the server, `settled(expect)` (a Playwright check of the element that
        shows the new view) passed, the app idle, and two frames painted."""
        from playwright.sync_api import expect

        before = self.finished[which]
        start = time.perf_counter()
        click()
        self._wait_finished(which, before, timeout)
        server = time.perf_counter() - start
        settled(expect)
        self.page.wait_for_function(IDLE, timeout=timeout)
        self.page.evaluate(PAINTED)
        seconds = time.perf_counter() - start
        self.times[kind].append(seconds)
        self.server[kind].append(server)
        return seconds

    def idle(self) -> None:
        self.page.wait_for_function(IDLE, timeout=LONG)

    # --- what a user does ---------------------------------------------------------------------

    def heading(self, title: str):
        return self.page.get_by_role("heading", name=title, exact=True).first

    def nav(self, title: str):
        return self.page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True)

    def open(self, title: str) -> None:
        self.nav(title).click()
        self.heading(title).wait_for(timeout=LONG)
        self.idle()

    def open_selectbox(self, container, typed: str = "") -> None:
        """Open a selectbox's list (and type into its search box)."""
        field = container.locator("input").first
        field.click()
        if typed:
            field.fill(typed)

    def option(self, text: str):
        pattern = re.compile(re.escape(text))
        return self.page.get_by_role("option").filter(has_text=pattern).first

    def upload(self, ratings: Upload, items: Upload | None, users: Upload | None) -> None:
        """The Data page's upload of a rating file and its metadata: each a path, or a
        Playwright file payload ({"name", "mimeType", "buffer"})."""
        from playwright.sync_api import expect

        page = self.page
        page.goto(self.url)
        self.heading("Data").wait_for(timeout=LONG)
        page.get_by_role("radio", name="Upload files").click()
        uploads = page.locator("[data-testid=stFileUploader] input[type=file]")
        uploads.nth(0).set_input_files(_input_file(ratings))
        name = ratings.name if isinstance(ratings, Path) else ratings["name"]
        expect(page.get_by_text(f"Current dataset: {name} (uploaded)")).to_be_visible(timeout=LONG)
        for position, file, kind in ((1, items, "item"), (2, users, "user")):
            if file is not None:
                uploads.nth(position).set_input_files(_input_file(file))
                # this file's own line: the other's can already be there before this one is read
                read = page.get_by_text(re.compile(rf"of [\d,]+ rated {kind}s have an entry"))
                expect(read).not_to_have_count(0, timeout=LONG)
        self.idle()

    def train(
        self,
        user_clusters: int | None,
        item_clusters: int | None,
        epochs: int,
        wait=True,
        split=None,
        family: str | None = None,
        preset: str | None = None,
    ) -> str:
        """Train a run from the Train page (with `family`, `preset` (its label on the page) and
        `split`, if given, picked in its form; cluster counts None: the form's own, e.g.
        MFDMC's views and centres, which have no "User clusters" field); wait until it (and its
        maps) are done. `trainings[name]` keeps the Train click's time (epoch seconds) and, when
        waited for, when the app showed the run finished and its map."""
        from playwright.sync_api import expect

        page = self.page
        self.open("Train")
        if family is not None:
            self.choose(".st-key-train_family", FAMILIES[family].label)
        if preset is not None:  # a segmented control: one button per preset
            page.locator(".st-key-train_preset").get_by_text(preset, exact=True).click()
            self.idle()
        fields = [("Max epochs", epochs)]
        if item_clusters is not None:
            fields.insert(0, ("Item clusters", item_clusters))
        if user_clusters is not None:
            fields.insert(0, ("User clusters", user_clusters))
        for label, value in fields:
            self.fill(label, str(value))
        if split is not None:
            self.choose(".st-key-train_split", split)
        run_heading = page.get_by_role("heading", name=re.compile(r"^Run ")).first
        before = run_heading.inner_text() if run_heading.count() else ""
        clicked = time.time()
        page.locator(".st-key-train_button button").click()
        expect(run_heading).to_be_visible(timeout=LONG)
        expect(run_heading).not_to_have_text(before, timeout=LONG)
        name = run_heading.inner_text()[4:]
        self.trainings[name] = {"clicked": clicked}
        if wait:
            expect(page.locator(".stMarkdownBadge").filter(has_text="finished")).to_be_visible(
                timeout=LONG
            )
            self.trainings[name]["finished_shown"] = time.time()
            expect(page.locator(".st-key-stop_button")).to_have_count(0, timeout=LONG)
            self.open("Map")
            expect(page.get_by_text("UMAP of the best checkpoint")).to_be_visible(timeout=LONG)
            self.trainings[name]["map_shown"] = time.time()
            self.idle()
        return name

    def fill(self, label: str, value: str) -> None:
        """Type `value` into the text field `label` and submit it. A rerun that redraws the
        field while it is typed into can leave the old value in front of the new one (seen:
        "20040" for 40 after the preset set 200), so the value is checked and typed again,
        at most three times."""
        field = self.page.get_by_label(label, exact=True)
        for _ in range(3):
            self.idle()
            field.fill(value)
            field.press("Enter")
            self.idle()
            if field.input_value() == value:
                return
        raise AssertionError(f"{label!r} reads {field.input_value()!r}, not {value!r}")

    def choose(self, selector: str, value: str) -> None:
        """Pick `value` (an option's whole text) in the selectbox at `selector`. A rerun that
        redraws the box closes its list, also under the pointer (seen on a loaded machine: a
        60 s click timeout): then the list is opened again, at most three times."""
        box = self.page.locator(selector)
        for attempt in range(3):
            self.idle()
            self.open_selectbox(box)
            try:
                self.page.get_by_role("option", name=value, exact=True).click(timeout=10_000)
                break
            except Exception:
                self.page.keyboard.press("Escape")
                if attempt == 2:
                    raise
        expect_value(box, value)
        self.idle()

    def open_run(self, name: str) -> None:
        """Open run `name` (kept in the URL as ?run=, beside the dataset's ?data=)."""
        from urllib.parse import urlencode, urlsplit

        query = urlsplit(self.page.url).query
        self.page.goto(f"{self.url}/?{query}&{urlencode({'run': name})}")
        self.heading("Data").wait_for(timeout=LONG)
        self.idle()

    def stop_training(self) -> None:
        from playwright.sync_api import expect

        self.page.locator(".st-key-stop_button button").first.click()
        expect(self.page.locator(".st-key-stop_button")).to_have_count(0, timeout=LONG)

    # --- the kinds of click -------------------------------------------------------------------

    def page_switches(self, repeats: int) -> None:
        self.open(PAGES[-1])
        for _ in range(repeats):
            for title in PAGES:
                self.timed(
                    f"page: {title}",
                    self.nav(title).click,
                    lambda expect, title=title: expect(self.heading(title)).to_be_visible(),
                )

    def map_colour(self, repeats: int) -> None:
        self.open("Map")
        box = self.page.locator(".st-key-map_colour")
        self.open_selectbox(box)
        choices = [o.inner_text() for o in self.page.get_by_role("option").all()]
        self.page.keyboard.press("Escape")
        current = box.locator("input").input_value()
        order = [c for c in choices if c != current] + [current]
        for choice in (order * repeats)[: max(repeats, 1) * 2]:
            self.open_selectbox(box)
            self.timed(
                "map: colour by",
                self.page.get_by_role("option", name=choice, exact=True).click,
                lambda expect, choice=choice: expect(box.locator("input")).to_have_value(choice),
            )
        if box.locator("input").input_value() != current:  # back as it was (untimed)
            self.open_selectbox(box)
            self.page.get_by_role("option", name=current, exact=True).click()
            expect_value(box, current)
            self.idle()

    def map_cluster_click(self, repeats: int) -> None:
        """Click user cluster markers (in pan mode, as a user would after zooming); settled =
        the selection panel shows a selection (its Clear button). Markers overlap, and a click
        that selects nothing (plotly picked no point) is not timed: the next marker is tried."""
        from playwright.sync_api import Error

        self.open("Map")
        chart = self.page.locator(FRESH_MAP).first
        chart.locator("g.trace.scatter path.point").first.wait_for(state="attached")
        chart.hover()
        chart.locator("[data-title='Pan']").click()
        clear = self.page.locator(".st-key-clear_selection button")
        targets = iter(self._hovered_clusters(chart))
        done = 0
        while done < repeats:
            target = next(targets, None)
            assert target is not None, f"only {done} of {repeats} map clicks selected a point"
            self.page.mouse.move(target["x"], target["y"])
            try:
                self.timed(
                    "map: click a cluster",
                    lambda t=target: self.page.mouse.click(t["x"], t["y"]),
                    # generous: on a busy machine (CI) the map's rerun alone can take seconds
                    lambda expect: expect(clear).to_be_visible(timeout=15_000),
                )
                done += 1
            except (AssertionError, Error):
                self.misses += 1
            if clear.count():  # the next click must change the view again (untimed)
                clear.click()
                self.idle()

    def _hovered_clusters(self, chart):
        """User cluster markers that plotly's hover label confirms under the mouse (a click
        picks the hovered point, and markers overlap), most isolated first. Yielded one by one:
        on a busy machine the label can take a second to appear, so each one is waited for.
        Markers whose label never showed are yielded last, unconfirmed, rather than not at all."""
        tried, unconfirmed = set(), []
        while True:  # positions afresh each time: a click or Clear may scroll the page
            fresh = self._cluster_markers(chart)
            target = next((t for t in fresh if t["index"] not in tried), None)
            if target is None:
                break
            tried.add(target["index"])
            self.page.mouse.move(target["x"] - 3, target["y"] - 3)  # a real move: plotly hovers
            self.page.mouse.move(target["x"], target["y"])  # on mousemove events only
            named = rf"\buser cluster {target['index']}\b"
            if chart.evaluate(
                # wait (up to 3 s) for a cluster's label, not a user's naming its cluster
                """async (chart, named) => {
                      for (let i = 0; i < 60; i++) {
                        const label = chart.querySelector('.hoverlayer .hovertext')?.textContent;
                        if (label && new RegExp(named).test(label)
                            && !label.includes('top cluster:')) return true;
                        await new Promise((done) => setTimeout(done, 50));
                      }
                      return false;
                    }""",
                named,
            ):
                yield target
            else:
                unconfirmed.append(target["index"])
        for index in unconfirmed:
            fresh = self._cluster_markers(chart)
            yield from (t for t in fresh if t["index"] == index)

    def _cluster_markers(self, chart) -> list[dict]:
        """User cluster markers of the map as drawn now: after a click or Clear the page draws
        a new chart, and plotly lays it out a moment after the element appears."""
        from playwright.sync_api import Error

        for attempt in range(3):  # a chart replaced while scrolled to: take the new one
            self.idle()
            self.page.wait_for_function(MAP_LAID_OUT, timeout=LONG)
            try:
                chart.scroll_into_view_if_needed()
                return chart.evaluate(ISOLATED_MARKERS, ["user cluster", 60])
            except Error:
                if attempt == 2:
                    raise
        return []

    def _pick_clusters(self, kind: str, key_prefix: str, shown, repeats: int) -> None:
        box = self.page.locator(f"[class*='st-key-{key_prefix}']").first
        box.wait_for()
        picked, missing = set(), set()
        for turn in range(repeats):
            cluster = self._next_cluster(box, turn, repeats, picked, missing)
            picked.add(cluster)
            self.timed(
                kind,
                self.option(f"cluster {cluster} ·").click,
                lambda expect, cluster=cluster: expect(shown(cluster)).to_be_visible(),
            )

    def _next_cluster(self, box, turn: int, repeats: int, picked: set, missing: set) -> int:
        """The cluster the `turn`-th pick chooses, left shown in the open, searched picker:
        cluster `turn`, or `repeats + turn` when that one is shown already. Where the picker
        lists neither (an MFDMC view keeps only its centres that pruning left), the first
        listed cluster not shown now, one not picked yet first; `missing` collects those the
        picker does not list."""
        current = box.locator("input").input_value()
        wanted = repeats + turn if f"cluster {turn} ·" in current else turn
        others = [c for c in range(wanted) if f"cluster {c} ·" not in current]
        for cluster in [wanted, *sorted(others, key=lambda c: (c in picked, c))]:
            if cluster not in missing:
                if self._listed(box, cluster):
                    return cluster
                missing.add(cluster)
        raise AssertionError(f"no cluster to pick but the one shown ({current})")

    def _listed(self, box, cluster: int) -> bool:
        """Whether the picker lists `cluster`: searched for, its option is left shown."""
        from playwright.sync_api import TimeoutError as Timeout

        self.open_selectbox(box, f"cluster {cluster} ·")
        try:
            self.option(f"cluster {cluster} ·").wait_for(timeout=PROBE)
        except Timeout:
            self.page.keyboard.press("Escape")
            return False
        return True

    def affinity_pick(self, repeats: int) -> None:
        self.open("Cluster affinity")
        self._pick_clusters(
            "affinity: pick a cluster",
            "affinity_cluster_user_",
            lambda c: self.page.get_by_text(f"against user cluster {c}", exact=False).first,
            repeats,
        )

    def membership_pick(self, repeats: int) -> None:
        self.open("Membership")
        self._pick_clusters(
            "membership: pick a cluster",
            "members_cluster_user_",
            # HMF: "(level 1, size ...)"; a family with views (MFDMC): "(view 1, size ...)"
            lambda c: self.page.get_by_text(re.compile(rf"User cluster {c} \((level|view) ")).first,
            repeats,
        )

    def explain_user(self, repeats: int) -> None:
        self.open("Explain")
        box = self.page.locator("[class*='st-key-explain_user_']:not([class*='_find'])").first
        for user in range(2, 2 + repeats):
            self.open_selectbox(box, f"(#{user})")
            self.timed(
                "explain: pick a user",
                self.option(f"(#{user})").click,
                lambda expect, user=user: (
                    expect(box.locator("input")).to_have_value(re.compile(rf"\(#{user}\)$")),
                    expect(self.page.get_by_text("Why this score?")).to_be_visible(),
                ),
            )

    def explain_item(self, repeats: int) -> None:
        self.open("Explain")
        box = self.page.locator("[class*='st-key-explain_item_']:not([class*='_find'])").first
        for item in range(3, 3 + repeats):
            self.open_selectbox(box, f"(#{item})")
            self.timed(
                "explain: pick an item",
                self.option(f"(#{item})").click,
                lambda expect, item=item: (
                    expect(box.locator("input")).to_have_value(re.compile(rf"\(#{item}\)$")),
                    expect(self.page.get_by_test_id("stMetric").first).to_be_visible(),
                ),
            )

    def metrics(self, repeats: int) -> None:
        for _ in range(repeats):
            self.open("Explain")
            self.timed(
                "metrics: open",
                self.nav("Metrics").click,
                lambda expect: (
                    expect(self.page.get_by_text(re.compile(r"\w Test RMSE"))).to_be_visible(),
                    expect(self.page.locator(".st-key-metrics_curve_train_loss")).to_be_visible(),
                ),
            )

    def reload(self, kind: str, run_name: str, repeats: int) -> None:
        """Reload the Train page with run `run_name` open: its panel back, app idle."""
        self.open("Train")
        for _ in range(repeats):
            self.timed(
                kind,
                self.page.reload,
                lambda expect: expect(
                    self.page.get_by_role("heading", name=f"Run {run_name}")
                ).to_be_visible(timeout=LONG),
                which="script",
                timeout=LONG,
            )


# --- the whole sequence ---------------------------------------------------------------------


def run_clicks(
    clicks: Clicks,
    repeats: int,
    epochs: int,
    data: Path,
    family: str = "hmf",
    metadata: tuple[Path, Path] | None = None,
) -> str:
    """The whole measurement: upload (the rating file and `metadata`, its (items, users)
    files, by default ML-100K's u.item and u.user beside it), train (HMF: 40 user and 40 item
    clusters, one level; another family at the Train page's own settings for it; both with the
    interpretable preset, as the results before issue 17's default measured), every
    kind of click, then reloads while a second run trains (which it stops). Returns the name
    of the run the clicks used."""
    items, users = metadata or (data.parent / "u.item", data.parent / "u.user")
    clicks.upload(data, items, users)
    clusters, picked = ((40, 40), None) if family == "hmf" else ((None, None), family)
    preset = INTERPRETABLE  # MFDMC's default is the same recipe, recorded under this name
    finished = finished_run(clicks.runs_dir, family)
    if finished:  # --runs: the run of an earlier measurement, so before / after share a model
        clicks.open_run(finished)
    else:
        finished = clicks.train(*clusters, epochs, family=picked, preset=preset)
    clicks.page_switches(repeats)
    clicks.map_colour(repeats)
    clicks.map_cluster_click(repeats)
    clicks.affinity_pick(repeats)
    clicks.membership_pick(repeats)
    clicks.explain_user(repeats)
    clicks.explain_item(repeats)
    clicks.metrics(repeats)
    clicks.reload("reload: finished run", finished, repeats)
    training = clicks.train(*clusters, 500, wait=False, family=picked, preset=preset)
    clicks.reload("reload: while training", training, repeats)
    clicks.stop_training()
    return finished


def finished_run(runs_dir: Path | None, family: str = "hmf") -> str | None:
    """The newest finished run of `family` with a UMAP map in `runs_dir`, if any."""
    from hmf_core.runs.manager import run_status, runs

    if runs_dir is None or not runs_dir.exists():
        return None
    for run in runs(runs_dir):
        if run_status(run).phase != "finished" or "umap" not in run.maps_ready():
            continue
        if run.meta().get("family", "hmf") == family:
            return run.name
    return None
