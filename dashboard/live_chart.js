// The map's plotly chart, kept mounted across reruns (dashboard/live_chart.py): each new figure
// is drawn with Plotly.react into the same plot, so a colour change or a highlight redraws the
// traces instead of building a new chart and its WebGL context (benchmarks/results/
// latency_ml20m.md, "This stop": the same-session before / after).
// A click, box or lasso is sent back as a "selection" trigger, in st.plotly_chart's shape.

function loadPlotly(url) {
  // plotly.js, once per page: the map's bundle (dashboard/plotly_js, live_chart.py). (A fetch with
  // "force-cache" and a blob: script spared its download on a reload but made Map reloads
  // 0.8 s slower: benchmarks/results/latency_ml20m.md.) The promise is the page's: the
  // preload (live_chart.preload_chart) and the chart share one download.
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__hmfPlotly) {
    window.__hmfPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.__hmfPlotly = null; // a later render tries again
        reject(new Error(`plotly.js did not load from ${url}`));
      };
      document.head.appendChild(script);
    });
  }
  return window.__hmfPlotly;
}

function pathPoints(path) {
  // A lasso's SVG path "Mx,yLx,y...Z" as {x: [...], y: [...]}.
  const x = [], y = [];
  for (const corner of (path || "").replace("M", "").replace("Z", "").split("L")) {
    if (!corner) continue;
    const [cx, cy] = corner.split(",").map(Number);
    x.push(cx);
    y.push(cy);
  }
  return { x, y };
}

function selectionOf(event) {
  // st.plotly_chart's selection: the points (curve, index, x, y, customdata), boxes and lassos.
  const points = (event && event.points) || [];
  const selection = { points: [], box: [], lasso: [] };
  for (const point of points) {
    selection.points.push({
      curve_number: point.curveNumber,
      point_index: point.pointIndex,
      x: point.x,
      y: point.y,
      customdata: point.customdata,
    });
  }
  for (const region of (event && event.selections) || []) {
    if (region.type === "rect") {
      selection.box.push({ x: [region.x0, region.x1], y: [region.y0, region.y1] });
    } else if (region.type === "path" && region.path) {
      selection.lasso.push(pathPoints(region.path));
    }
  }
  return selection;
}

function listen(plot) {
  // Once per plot: its events go to the newest render's trigger (plot.__send). A double-click
  // gives both a deselect and a double-click event: one empty selection is sent for the two.
  let emptySent = 0;
  const send = (selection) => {
    const empty = selection.points.length + selection.box.length + selection.lasso.length === 0;
    if (empty && performance.now() - emptySent < 500) return;
    emptySent = empty ? performance.now() : 0;
    if (plot.__send) plot.__send("selection", selection);
  };
  plot.on("plotly_selected", (event) => { if (event) send(selectionOf(event)); });
  plot.on("plotly_deselect", () => send(selectionOf(null)));
  plot.on("plotly_doubleclick", () => send(selectionOf(null)));
}

const EXPAND = { // four corners, as st.plotly_chart's fullscreen button shows
  width: 512,
  height: 512,
  path: "M0 0H192V64H64V192H0ZM320 0H512V192H448V64H320ZM0 320H64V448H192V512H0Z"
    + "M448 320H512V512H320V448H448Z",
};

function fullscreenButton(plot) {
  // The chart's own toolbar button for the whole screen (st.plotly_chart had one): the plot
  // takes the screen's height there, and its own height again when the screen is left.
  return {
    name: "fullscreen",
    title: "Fullscreen",
    icon: EXPAND,
    click: () => {
      if (document.fullscreenElement) document.exitFullscreen();
      else plot.parentElement.requestFullscreen();
    },
  };
}

function assembled(data) {
  // The figure with its pieces put back (dashboard/charts.py figure_parts): those sent now and
  // those kept from the chart's last figure, which live_chart.py names without sending them.
  // Kept afterwards, in the page (a page switch unmounts the chart, not this): exactly this
  // figure's pieces, as live_chart.py counts on. null when one of them is missing.
  const store = (window.__hmfPieces = window.__hmfPieces || new Map());
  const kept = store.get(data.chart) || new Map();
  const sent = data.pieces || {};
  const used = new Map();
  let missing = false;
  const figure = JSON.parse(data.figure, (name, value) => {
    if (value === null || typeof value !== "object" || typeof value.piece !== "string") {
      return value;
    }
    const piece = value.piece;
    if (!used.has(piece)) {
      if (piece in sent) used.set(piece, JSON.parse(sent[piece]));
      else if (kept.has(piece)) used.set(piece, kept.get(piece));
      else {
        missing = true;
        return null;
      }
    }
    return used.get(piece);
  });
  store.set(data.chart, used);
  return missing ? null : figure;
}

function mountPlot(parentElement) {
  // The plot's element, once per mount, with what stays for its life: the Fullscreen button
  // (one object: a new one would differ from the last config, and a changed config makes
  // Plotly.react draw the plot anew) and, on entering or leaving the whole screen, the
  // screen's height or the figure's own.
  const plot = document.createElement("div");
  plot.className = "hmf-live-chart";
  plot.__button = fullscreenButton(plot);
  parentElement.addEventListener("fullscreenchange", () => {
    const whole = document.fullscreenElement === parentElement;
    parentElement.style.background = whole ? "white" : "";
    window.Plotly.relayout(plot, { height: whole ? window.innerHeight : plot.__height });
  });
  parentElement.appendChild(plot);
  return plot;
}

export default function ({ parentElement, data, setTriggerValue }) {
  if (data.figure === undefined) { // the preload: plotly.js fetched and run, nothing shown
    loadPlotly(data.plotly).catch(() => null); // the chart, should it fail, says why
    return undefined;
  }
  const plot = parentElement.querySelector(".hmf-live-chart") || mountPlot(parentElement);
  plot.__send = setTriggerValue;
  const purge = () => {
    if (window.Plotly) window.Plotly.purge(plot); // its WebGL contexts, when the page goes
  };
  const figure = assembled(data);
  if (figure === null) { // kept pieces lost (it should not happen): every piece sent again
    if (plot.__askedFor !== data.figure) {
      plot.__askedFor = data.figure;
      setTriggerValue("missing", true);
    } else {
      plot.textContent = "The chart could not be drawn: parts of its figure did not arrive.";
    }
    return purge;
  }
  plot.__askedFor = null; // drawn: a later loss asks again
  const style = getComputedStyle(parentElement);
  figure.layout.font = { family: style.fontFamily, color: style.color, ...figure.layout.font };
  figure.layout.paper_bgcolor = figure.layout.paper_bgcolor || "rgba(0,0,0,0)";
  figure.layout.clickmode = "event+select"; // a click selects its point, as box and lasso do
  plot.__height = figure.layout.height;
  if (document.fullscreenElement === parentElement) figure.layout.height = window.innerHeight;
  const config = { ...data.config, modeBarButtonsToAdd: [plot.__button] };
  loadPlotly(data.plotly)
    .then((Plotly) => Plotly.react(plot, figure.data, figure.layout, config))
    .then(() => {
      if (!plot.__listening) { // plot.on exists once plotly has drawn the plot
        plot.__listening = true;
        listen(plot);
      }
    })
    .catch((error) => {
      plot.textContent = `The chart could not be drawn: ${error.message}`;
    });
  return purge;
}
