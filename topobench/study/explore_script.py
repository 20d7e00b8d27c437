"""The style and the script of ``explore.html`` (:mod:`topobench.study.explore`), kept apart from the Python that
assembles the page so each can be read on its own.

The script is vanilla JavaScript with no library and no network access: it reads the JSON of
``<script id="study-data">``, draws inline SVG panels (k-NN recall vs QPS and vs each counter, log y axes whose labels
never collide), a tooltip for the point under the pointer, and a checkbox per variant and per seed that hides or shows
their points and lines (a class on ``<body>``, so hiding costs no redrawing). Every error while drawing is counted —
caught around the drawing and by ``window.onerror`` — and written on the page and into ``<body data-errors>``.
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em; color: #222; }
.note { color: #555; max-width: 75em; }
.missing { color: #b00; font-weight: bold; }
#controls { display: flex; flex-wrap: wrap; gap: 1em; margin: 0.5em 0 1em; }
fieldset { border: 1px solid #ccc; padding: 0.3em 0.8em; }
fieldset label { margin-right: 1em; white-space: nowrap; cursor: pointer; }
fieldset button { font-size: 0.8em; margin-left: 0.3em; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 50%; vertical-align: -0.1em;
          margin: 0 0.25em; }
.panels { display: flex; flex-wrap: wrap; gap: 0.8em; }
svg.panel { border: 1px solid #ddd; background: #fff; font-size: 11px; }
svg.panel .grid { stroke: #e5e5e5; }
svg.panel .frame { fill: none; stroke: #888; }
svg.panel .level { stroke: #888; stroke-dasharray: 2 3; }
svg.panel .front { fill: none; stroke-width: 1.4; stroke-opacity: 0.8; }
svg.panel circle { fill-opacity: 0.75; stroke: #fff; stroke-width: 0.6; cursor: crosshair; }
svg.panel circle:hover { stroke: #000; stroke-width: 1.5; fill-opacity: 1; }
svg.panel .title { font-size: 13px; font-weight: bold; }
#tip { position: fixed; z-index: 10; pointer-events: none; background: #fffff4; border: 1px solid #999;
       box-shadow: 2px 2px 6px rgba(0,0,0,0.2); padding: 0.4em 0.6em; font-size: 12px; max-width: 32em; }
#tip div { margin: 0.1em 0; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  let errors = 0;
  const body = document.body;
  body.dataset.errors = "0";
  function fail(what) {
    errors += 1;
    body.dataset.errors = String(errors);
    const p = document.createElement("p");
    p.className = "missing";
    p.textContent = "error while drawing: " + what;
    document.getElementById("notes").appendChild(p);
  }
  window.onerror = function (message) { fail(message); return false; };

  const PALETTE10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                     "#bcbd22", "#17becf"];
  const PALETTE20 = ["#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
                     "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
                     "#bcbd22", "#dbdb8d", "#17becf", "#9edae5"];
  const DASHES = ["", "7 3", "2 3", "9 3 2 3", "14 4", "4 2 1 2", "1 5", "10 2 10 6"];
  const W = 470, H = 330, M = {left: 66, right: 14, top: 26, bottom: 42};
  const holder = document.createElement("div");
  holder.innerHTML = "<svg></svg>";
  const NS = holder.firstChild.namespaceURI;  // the SVG namespace, without writing its address in the page

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fmt(v) {
    if (!isNum(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a >= 100) return v.toFixed(1);
    return String(+v.toPrecision(4));
  }
  function tickText(v) { return v >= 1000 ? Math.round(v).toLocaleString("en-US") : String(+v.toPrecision(3)); }
  function args(a) { return Array.isArray(a) ? "[" + a.map(String).join(", ") + "]" : String(a); }
  function value(p, key) { return key === "qps" ? p.qps : (p.counters || {})[key]; }
  function usable(p, key) { const y = value(p, key); return isNum(p["k-nn"]) && isNum(y) && y > 0; }

  function niceStep(span, count) {
    const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }
  function linearTicks(lo, hi, count) {
    const step = niceStep(hi - lo, count), out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
    return out;
  }
  // Log-axis labels: decades first, then 5x and 2x, each kept only when it is at least GAP pixels from every label
  // already placed, so labels never overlap however many decades the axis spans; a short span with fewer than three
  // such labels also gets evenly spaced plain numbers (the same gap kept).
  const GAP = 16;
  function logTicks(lo, hi, toPx) {
    const placed = [];
    function tryPlace(v) {
      if (v < lo || v > hi) return;
      const px = toPx(v);
      if (placed.every((t) => Math.abs(toPx(t) - px) >= GAP)) placed.push(v);
    }
    for (const m of [1, 5, 2]) {
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        tryPlace(+(m * Math.pow(10, e)).toPrecision(6));
      }
    }
    if (placed.length < 3) linearTicks(lo, hi, 5).forEach(tryPlace);
    return placed.sort((a, b) => a - b);
  }

  // A cell's Pareto frontier on one panel: the points no other point beats on both recall and the y value
  // (more QPS is better, a smaller counter is better), in order of recall.
  function frontier(points, key) {
    const better = key === "qps" ? (a, b) => a > b : (a, b) => a < b;
    const sorted = points.slice().sort(
      (a, b) => b["k-nn"] - a["k-nn"] || (better(value(a, key), value(b, key)) ? -1 : 1));
    const out = [];
    let best = null;
    for (const p of sorted) {
      const y = value(p, key);
      if (best === null || better(y, best)) { out.push(p); best = y; }
    }
    return out.reverse();
  }

  function panel(data, algo, a, key, parent, color, counts) {
    const cells = algo.cells.map((c) => c.points.filter((p) => usable(p, key)));
    const all = [].concat(...cells);
    if (!all.length) return;
    const xs = all.map((p) => p["k-nn"]), ys = all.map((p) => value(p, key));
    let x0 = Math.min(...xs), x1 = Math.max(...xs);
    const xspan = Math.max(x1 - x0, 0.02);
    x0 = Math.max(0, x0 - 0.04 * xspan - (0.02 - Math.min(x1 - x0, 0.02)) / 2);
    x1 = x0 + xspan * 1.07;
    if (x1 > 1 + 0.03 * xspan) { x0 -= x1 - (1 + 0.03 * xspan); x1 = 1 + 0.03 * xspan; }  // no room beyond recall 1
    let l0 = Math.log10(Math.min(...ys)), l1 = Math.log10(Math.max(...ys));
    if (l1 - l0 < 0.05) { l0 -= 0.1; l1 += 0.1; }
    const lpad = 0.05 * (l1 - l0); l0 -= lpad; l1 += lpad;
    const px = (x) => M.left + (x - x0) / (x1 - x0) * (W - M.left - M.right);
    const py = (y) => H - M.bottom - (Math.log10(y) - l0) / (l1 - l0) * (H - M.top - M.bottom);
    const svg = el("svg", {class: "panel", width: W, height: H, viewBox: "0 0 " + W + " " + H}, parent);
    const ylabel = key === "qps" ? "queries per second (log)" : key + " per query (log)";
    const title = algo.name + ": k-NN recall vs " + (key === "qps" ? "QPS" : key);
    el("text", {class: "title", x: M.left, y: 17}, svg, title);
    const decimals = Math.max(0, -Math.floor(Math.log10(niceStep(x1 - x0, 6)) + 1e-9));
    for (const t of linearTicks(x0, Math.min(x1, 1), 6)) {
      el("line", {class: "grid", x1: px(t), x2: px(t), y1: M.top, y2: H - M.bottom}, svg);
      el("text", {x: px(t), y: H - M.bottom + 14, "text-anchor": "middle"}, svg, t.toFixed(decimals));
    }
    for (const t of logTicks(Math.pow(10, l0), Math.pow(10, l1), py)) {
      el("line", {class: "grid", x1: M.left, x2: W - M.right, y1: py(t), y2: py(t)}, svg);
      el("text", {x: M.left - 5, y: py(t) + 4, "text-anchor": "end"}, svg, tickText(t));
    }
    if (data.level >= x0 && data.level <= x1) {
      el("line", {class: "level", x1: px(data.level), x2: px(data.level), y1: M.top, y2: H - M.bottom}, svg);
    }
    el("rect", {class: "frame", x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom}, svg);
    el("text", {x: (M.left + W - M.right) / 2, y: H - 8, "text-anchor": "middle"}, svg, "k-NN recall");
    el("text", {x: 14, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle",
                transform: "rotate(-90 14 " + (M.top + H - M.bottom) / 2 + ")"}, svg, ylabel);
    algo.cells.forEach((c, ci) => {
      const front = frontier(cells[ci], key);
      if (front.length < 2) return;
      const xy = front.map((p) => px(p["k-nn"]).toFixed(2) + "," + py(value(p, key)).toFixed(2));
      el("polyline", {class: "front v" + c.variant + " s" + c.seed, stroke: color(c.variant),
                      "stroke-dasharray": DASHES[c.seed % DASHES.length], points: xy.join(" ")}, svg);
    });
    algo.cells.forEach((c, ci) => {
      c.points.forEach((p, pi) => {
        if (!usable(p, key)) return;
        el("circle", {class: "v" + c.variant + " s" + c.seed, r: 3.2, fill: color(c.variant),
                      cx: px(p["k-nn"]).toFixed(2), cy: py(value(p, key)).toFixed(2),
                      "data-a": a, "data-c": ci, "data-p": pi}, svg);
        counts.circles += 1;
        if (key === "qps") counts.points += 1;
      });
    });
  }

  function checkboxes(legend, labels, prefix, swatch) {
    const box = document.createElement("fieldset");
    const head = document.createElement("legend");
    head.textContent = legend;
    box.appendChild(head);
    const inputs = labels.map((text, i) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.checked = true;
      input.dataset.key = prefix + i;
      input.addEventListener("change", () => body.classList.toggle("hide-" + prefix + i, !input.checked));
      label.append(input, swatch(i), document.createTextNode(text));
      box.appendChild(label);
      return input;
    });
    for (const [text, on] of [["all", true], ["none", false]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = text;
      button.addEventListener("click", () => inputs.forEach((input) => {
        input.checked = on;
        input.dispatchEvent(new Event("change"));
      }));
      box.appendChild(button);
    }
    return box;
  }

  function tooltip(data) {
    const tip = document.getElementById("tip");
    function line(text, bold) {
      const div = document.createElement("div");
      if (bold) div.style.fontWeight = "bold";
      div.textContent = text;
      tip.appendChild(div);
    }
    function show(target) {
      const algo = data.algorithms[+target.dataset.a], c = algo.cells[+target.dataset.c];
      const p = c.points[+target.dataset.p];
      tip.textContent = "";
      line(data.variants[c.variant] + " — " + data.seeds[c.seed], true);
      line(algo.name + " · cell " + c.cell);
      if (c.source === "settings") line("build " + args(p.build) + " · query " + args(p.query));
      else line("a Pareto-frontier point of a format-2 cell: its build and query arguments were not kept");
      line("k-NN recall " + fmt(p["k-nn"]) + " · QPS " + fmt(p.qps));
      const counters = Object.keys(p.counters || {}).sort().map((k) => k + " " + fmt(p.counters[k]));
      if (counters.length) line(counters.join(" · "));
      const latency = Object.keys(p.latency_ms || {}).sort().map((k) => k + " " + fmt(p.latency_ms[k]) + " ms");
      if (latency.length) line("latency " + latency.join(" · "));
      if (isNum(p.build_seconds)) line("build " + fmt(p.build_seconds) + " s");
      tip.hidden = false;
    }
    function move(event) {
      const x = event.clientX + 14, y = event.clientY + 14;
      tip.style.left = Math.min(x, window.innerWidth - tip.offsetWidth - 8) + "px";
      tip.style.top = (y + tip.offsetHeight > window.innerHeight ? event.clientY - tip.offsetHeight - 10 : y) + "px";
    }
    const panels = document.getElementById("panels");
    panels.addEventListener("mouseover", (event) => {
      if (event.target.tagName === "circle") { show(event.target); move(event); }
    });
    panels.addEventListener("mousemove", (event) => { if (!tip.hidden) move(event); });
    panels.addEventListener("mouseout", (event) => { if (event.target.tagName === "circle") tip.hidden = true; });
  }

  // Once drawn, the page checks its own hover and toggles: a pointer over the first point must fill the tooltip with
  // that point's variant, unticking its variant must hide the point, ticking it again must show it.
  function selfCheck(data) {
    const circle = document.querySelector("#panels circle");
    if (!circle) { body.dataset.selfCheck = "no points"; return; }
    const tip = document.getElementById("tip");
    const c = data.algorithms[+circle.dataset.a].cells[+circle.dataset.c];
    circle.dispatchEvent(new MouseEvent("mouseover", {bubbles: true, clientX: 10, clientY: 10}));
    const hover = !tip.hidden && tip.textContent.startsWith(data.variants[c.variant] + " — ");
    circle.dispatchEvent(new MouseEvent("mouseout", {bubbles: true}));
    const box = document.querySelector('#controls input[data-key="v' + c.variant + '"]');
    box.click();
    const hide = !box.checked && getComputedStyle(circle).display === "none";
    box.click();
    const show = box.checked && getComputedStyle(circle).display !== "none" && tip.hidden;
    body.dataset.selfCheck = hover && hide && show ? "ok" : "failed";
    if (body.dataset.selfCheck !== "ok") fail("self-check: hover " + hover + ", hide " + hide + ", show " + show);
  }

  function draw() {
    const data = JSON.parse(document.getElementById("study-data").textContent);
    const palette = data.variants.length <= 10 ? PALETTE10 : PALETTE20;
    const color = (i) => palette[i % palette.length];
    const notes = document.getElementById("notes");
    const legend = "Colour: variant; line dash: seed; each line: one cell's Pareto frontier on that panel (points " +
      "no other point of the cell beats on both recall and the y value); dotted vertical line: k-NN recall " +
      data.level + ". Hover a point for its variant, seed, arguments and measures.";
    for (const text of [...data.notes, legend]) {
      const p = document.createElement("p");
      p.className = "note";
      p.textContent = text;
      notes.appendChild(p);
    }
    const rules = [];
    data.variants.forEach((_, i) => rules.push(".hide-v" + i + " .v" + i + " { display: none; }"));
    data.seeds.forEach((_, i) => rules.push(".hide-s" + i + " .s" + i + " { display: none; }"));
    const style = document.createElement("style");
    style.textContent = rules.join("\n");
    document.head.appendChild(style);
    const controls = document.getElementById("controls");
    controls.appendChild(checkboxes("Variants", data.variants, "v", (i) => {
      const span = document.createElement("span");
      span.className = "swatch";
      span.style.background = color(i);
      return span;
    }));
    controls.appendChild(checkboxes("Seeds", data.seeds, "s", (i) => {
      const svg = el("svg", {width: 34, height: 10});
      el("line", {x1: 2, x2: 32, y1: 5, y2: 5, stroke: "#333", "stroke-width": 1.6,
                  "stroke-dasharray": DASHES[i % DASHES.length]}, svg);
      return svg;
    }));
    const counts = {points: 0, circles: 0, skipped: 0};
    const panels = document.getElementById("panels");
    if (!data.algorithms.length) {
      const p = document.createElement("p");
      p.className = "missing";
      p.textContent = "No cell has benchmark points to draw.";
      panels.appendChild(p);
    }
    data.algorithms.forEach((algo, a) => {
      const section = document.createElement("section");
      const h2 = document.createElement("h2");
      const n = algo.cells.reduce((s, c) => s + c.points.length, 0);
      h2.textContent = algo.name + " — " + n + " points of " + algo.cells.length + " cells";
      section.appendChild(h2);
      const row = document.createElement("div");
      row.className = "panels";
      section.appendChild(row);
      panels.appendChild(section);
      algo.cells.forEach((c) => { counts.skipped += c.points.filter((p) => !usable(p, "qps")).length; });
      for (const key of ["qps", ...algo.counters]) {
        try { panel(data, algo, a, key, row, color, counts); } catch (err) { fail(algo.name + " " + key + ": " + err); }
      }
    });
    tooltip(data);
    selfCheck(data);
    body.dataset.drawnPoints = String(counts.points);
    body.dataset.drawnCircles = String(counts.circles);
    body.dataset.skippedPoints = String(counts.skipped);
  }

  try { draw(); } catch (err) { fail(err); }
})();
"""
