// linctl view: draws the page data the server sends (or an export baked into data.js).
// Plain DOM, SVG and canvas; no framework, no build step. Numbers are shown as the state file holds them.
"use strict";
(function () {
  const TOKEN = window.LINCTL_TOKEN || null;
  const BAKED = window.LINCTL_DATA || null;
  const NEG = [33, 102, 172], ZERO = [247, 247, 247], POS = [178, 24, 43];
  const NODE = 44, ROW = 62, COLUMN = 150, GRID = 22, DRAWN = 16;
  let page = null;        // the latest page data (the state file now)
  let shown = null;       // {id, network}: a past snapshot on the timeline, or null for now
  let updates = 0;
  const snapshots = BAKED ? BAKED.snapshots || {} : {};
  const $ = (id) => document.getElementById(id);

  function url(path) { return TOKEN ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : path; }
  function colour(v, low, high, centre) {
    if (v === null || !isFinite(v)) return [128, 128, 128];
    centre = centre || 0;
    const span = v >= centre ? high - centre : centre - low;
    const f = span <= 0 ? 0 : Math.min(1, Math.abs(v - centre) / span);
    const end = v >= centre ? POS : NEG;
    return ZERO.map((z, i) => Math.round(z + (end[i] - z) * f));
  }
  function css(rgb) { return "rgb(" + rgb.join(",") + ")"; }
  function reach(rec) { const r = Math.max(Math.abs(rec.min || 0), Math.abs(rec.max || 0)); return r > 0 && isFinite(r) ? r : 1; }
  function short(v) { return v === null || v === undefined ? "—" : Number(v.toPrecision(4)).toString(); }
  function fmt(v) { return v === null || v === undefined ? "—" : String(v); }
  function el(tag, attrs, parent, ns) {
    const e = ns ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  // ---------------------------------------------------------------- values of a tensor record
  function full(rec) { return rec && rec.values !== undefined; }
  function at(rec, i, j) {   // exact value, from the whole tensor or its drawn corner; undefined when not sent
    if (!rec) return undefined;
    const src = full(rec) ? rec.values : rec.corner;
    if (!src) return undefined;
    const row = rec.shape.length === 1 ? src : src[i];
    return row === undefined ? undefined : (rec.shape.length === 1 ? row[i] : row[j]);
  }
  function grid(rec) {       // a 2-D array to draw as a heatmap, and the block size behind each cell
    if (full(rec)) return { cells: rec.shape.length === 1 ? [rec.values] : rec.values, block: [1, 1] };
    return { cells: rec.blocks, block: rec.block };
  }

  // ---------------------------------------------------------------- hover
  function hover(event, lines) {
    const box = $("hover");
    box.hidden = false;
    box.replaceChildren();
    for (const [name, value, extra] of lines) {
      const line = el("div", { class: "line" }, box);
      el("span", { class: "name" }, line).textContent = name;
      line.appendChild(document.createTextNode(" = "));
      el("span", { class: "value" }, line).textContent = fmt(value);
      if (extra) line.appendChild(document.createTextNode("  " + extra));
    }
    box.style.left = event.clientX + 14 + "px";
    box.style.top = event.clientY + 14 + "px";
  }
  function unhover() { $("hover").hidden = true; }
  function hoverable(node, lines) {
    node.addEventListener("mousemove", (e) => hover(e, lines()));
    node.addEventListener("mouseenter", (e) => hover(e, lines()));
    node.addEventListener("mouseleave", unhover);
  }

  // ---------------------------------------------------------------- the forward pass, for the pictures
  // each activation's function comes with the page data, from linctl's registry (the only list of them)
  let ACT = {};
  function erf(x) {          // Math has no erf; Abramowitz & Stegun 7.1.26, within 1.5e-7 (for gelu)
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
    return x < 0 ? -y : y;
  }
  function activations(records) {
    const out = {};
    for (const name in records || {}) out[name] = new Function("erf", "return " + records[name].browser)(erf);
    return out;
  }
  function pictured(net) {   // every layer whole and every activation known: each neuron can be drawn
    return net.layers.length > 0 && [1, 2].includes(net.layers[0].in_features) &&
      net.layers.every((l) => full(net.params[l.weight]) && ACT[l.activation]);
  }
  function forward(net, x) { // [inputs, layer 1 outputs, ...] for one sample
    const outs = [x];
    let h = x;
    for (const layer of net.layers) {
      const w = net.params[layer.weight].values, b = layer.bias ? net.params[layer.bias].values : null;
      const z = w.map((row, k) => row.reduce((s, wk, j) => s + wk * h[j], b ? b[k] : 0));
      h = ACT[layer.activation](z);
      outs.push(h);
    }
    return outs;
  }
  function bounds(net) {     // the input plane: the samples' range with a quarter margin, else -1..1
    const n = net.layers[0].in_features, s = page && page.samples;
    const out = [];
    for (let d = 0; d < n; d++) {
      let lo = -1, hi = 1;
      if (s && s.x.length && s.x[0].length === n) {
        lo = Math.min(...s.x.map((r) => r[d])); hi = Math.max(...s.x.map((r) => r[d]));
        const span = hi > lo ? hi - lo : 1; lo -= 0.25 * span; hi += 0.25 * span;
      }
      out.push([lo, hi]);
    }
    return out;
  }
  function plane(net, size) { // outputs of every neuron at size x size points (or size points for 1 input)
    const b = bounds(net), n = b.length, points = [], values = [];
    for (let r = 0; r < (n === 2 ? size : 1); r++) {
      for (let c = 0; c < size; c++) {
        const x1 = b[0][0] + (b[0][1] - b[0][0]) * (c + 0.5) / size;
        const x = n === 2 ? [x1, b[1][1] - (b[1][1] - b[1][0]) * (r + 0.5) / size] : [x1];
        points.push(x); values.push(forward(net, x));
      }
    }
    return { bounds: b, points, values };
  }
  function scaleOf(vals, activation) {
    const range = page && page.activations && page.activations[activation] && page.activations[activation].range;
    if (range) return [range[0], range[1], (range[0] + range[1]) / 2];
    const r = Math.max(1e-12, ...vals.map(Math.abs));
    return [-r, r, 0];
  }
  function drawPicture(canvas, field, layer, k, activation, size) {
    const ctx = canvas.getContext("2d"), vals = field.values.map((v) => v[layer][k]);
    const [lo, hi, centre] = scaleOf(vals, activation);
    if (field.bounds.length === 2) {
      canvas.width = canvas.height = size;
      const img = ctx.createImageData(size, size);
      vals.forEach((v, i) => { const c = colour(v, lo, hi, centre); img.data.set([c[0], c[1], c[2], 255], 4 * i); });
      ctx.putImageData(img, 0, 0);
    } else {
      canvas.width = canvas.height = 64;
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, 64, 64);
      ctx.strokeStyle = "#333"; ctx.beginPath();
      vals.forEach((v, i) => { const y = 60 - 56 * (v - lo) / (hi - lo || 1); if (i) ctx.lineTo(i * 64 / vals.length, y); else ctx.moveTo(0, y); });
      ctx.stroke();
    }
  }

  // ---------------------------------------------------------------- the network, as Playground draws it
  function drawNetwork(net) {
    const box = $("network");
    box.replaceChildren();
    const sizes = [net.layers[0].in_features, ...net.layers.map((l) => l.out_features)];
    const drawn = sizes.map((n) => Math.min(n, DRAWN));
    const height = 40 + Math.max(...drawn) * ROW + 20, width = 40 + (sizes.length - 1) * COLUMN + NODE + 120;
    box.style.height = height + "px"; box.style.width = width + "px";
    const svg = el("svg", { width, height }, box, true);
    const pos = (c, i) => [30 + c * COLUMN, 40 + (Math.max(...drawn) - drawn[c]) * ROW / 2 + i * ROW];
    let top = 0;
    net.layers.forEach((l) => { const r = net.params[l.weight]; top = Math.max(top, reach(r)); });
    const field = pictured(net) ? plane(net, GRID) : null;
    net.layers.forEach((layer, c) => drawEdges(svg, net, layer, c, drawn, pos, top));
    sizes.forEach((n, c) => drawColumn(box, net, c, n, drawn[c], pos, field));
    $("network-note").textContent = (field ? "Each neuron shows its output over the input plane. " :
      "Neuron pictures need 1 or 2 inputs and every weight sent whole. ") +
      "Edges: red positive, blue negative, thicker for larger |w|; hover for the numbers." +
      (sizes.some((n) => n > DRAWN) ? " Columns over " + DRAWN + " neurons show their first " + DRAWN + "." : "");
  }
  function drawEdges(svg, net, layer, c, drawn, pos, top) {
    const w = net.params[layer.weight], g = net.grads[layer.weight];
    for (let k = 0; k < drawn[c + 1]; k++) {
      for (let j = 0; j < drawn[c]; j++) {
        const v = at(w, k, j);
        const [x1, y1] = pos(c, j), [x2, y2] = pos(c + 1, k);
        const attrs = { x1: x1 + NODE, y1: y1 + NODE / 2, x2, y2: y2 + NODE / 2 };
        const line = el("line", { ...attrs, class: "edge", stroke: css(colour(v, -top, top)), "stroke-width": 1 + 6 * Math.abs(v || 0) / top,
          "data-name": layer.weight, "data-index": k + "," + j }, svg, true);
        const hit = el("line", { ...attrs, class: "edge-hit", "data-name": layer.weight, "data-index": k + "," + j }, svg, true);
        const lines = () => [[layer.weight + "[" + k + "," + j + "]", v], ["grad", at(g, k, j)]];
        hoverable(hit, lines); hoverable(line, lines);
      }
    }
  }
  function drawColumn(box, net, c, n, drawn, pos, field) {
    const layer = c > 0 ? net.layers[c - 1] : null;
    const [cx] = pos(c, 0);
    const title = el("div", { class: "column-title" }, box);
    title.textContent = c === 0 ? n + " input" + (n > 1 ? "s" : "") : n + " · " + layer.activation;
    title.style.left = cx + "px"; title.style.top = "2px";
    for (let k = 0; k < drawn; k++) {
      const [x, y] = pos(c, k);
      const node = el("div", { class: "node" + (c === 0 ? " input" : ""), "data-column": c, "data-index": k }, box);
      node.style.left = x + "px"; node.style.top = y + "px";
      if (field) drawPicture(el("canvas", {}, node), field, c, k, layer ? layer.activation : "none", GRID);
      const label = el("span", { class: "label" }, node);
      label.textContent = c === 0 ? "x" + (k + 1) : "";
      if (layer) {
        const b = layer.bias ? net.params[layer.bias] : null;
        hoverable(node, () => [[layer.bias ? layer.bias + "[" + k + "]" : "bias", b ? at(b, k) : null],
          ["grad", layer.bias ? at(net.grads[layer.bias], k) : null]]);
      }
    }
    if (n > drawn) {
      const more = el("div", { class: "more" }, box);
      const [x, y] = pos(c, drawn - 1);
      more.textContent = "+ " + (n - drawn) + " more"; more.style.left = x + "px"; more.style.top = y + NODE + 4 + "px";
    }
  }

  // ---------------------------------------------------------------- heatmaps
  function heat(parent, rec, caption, name) {
    const fig = el("figure", {}, parent);
    if (!rec) { el("figcaption", {}, fig).textContent = caption + ": none"; return; }
    const { cells, block } = grid(rec), rows = cells.length, cols = cells[0].length;
    const px = Math.max(2, Math.min(24, Math.floor(180 / Math.max(rows, cols))));
    const canvas = el("canvas", { class: "heat", width: cols * px, height: rows * px, "data-name": name }, fig);
    const ctx = canvas.getContext("2d"), r = reach(rec);
    cells.forEach((row, i) => row.forEach((v, j) => { ctx.fillStyle = css(colour(v, -r, r)); ctx.fillRect(j * px, i * px, px, px); }));
    el("figcaption", {}, fig).textContent = caption + "  " + rec.shape.join("×") + "  [" + short(rec.min) + ", " + short(rec.max) + "]" +
      (block[0] > 1 ? "  blocks of " + block.join("×") : "");
    canvas.addEventListener("mousemove", (e) => {
      const i = Math.floor(e.offsetY / px), j = Math.floor(e.offsetX / px);
      if (i >= rows || j >= cols) return;
      const where = block[0] > 1 ? "[" + i * block[0] + ":" + (i + 1) * block[0] + ", " + j * block[1] + ":" + (j + 1) * block[1] + "] mean" :
        (rec.shape.length === 1 ? "[" + j + "]" : "[" + i + "," + j + "]");
      hover(e, [[caption + " " + name + where, cells[i][j]]]);
    });
    canvas.addEventListener("mouseleave", unhover);
  }
  function drawHeatmaps(net, change) {
    const box = $("heatmaps");
    box.replaceChildren();
    net.layers.forEach((layer, c) => {
      const row = el("div", { class: "layer-heat" }, box);
      el("h3", {}, row).textContent = "layer " + (c + 1) + ": Linear(" + layer.in_features + ", " + layer.out_features + ") then " + layer.activation;
      for (const name of [layer.weight, layer.bias].filter(Boolean)) {
        heat(row, net.params[name], "value", name);
        heat(row, net.grads[name], "grad", name);
        heat(row, change && change.params[name], "change", name);
      }
    });
  }

  // ---------------------------------------------------------------- the decision surface
  function drawSurface(net) {
    const canvas = $("surface"), ctx = canvas.getContext("2d"), size = canvas.width;
    ctx.clearRect(0, 0, size, size);
    if (!pictured(net)) { $("surface-note").textContent = "Drawn for networks with 1 or 2 inputs, every weight sent whole."; return; }
    const cells = 60, field = plane(net, cells), last = net.layers.length, act = net.layers[last - 1].activation;
    const vals = field.values.map((v) => v[last][0]), [lo, hi, centre] = scaleOf(vals, act), two = field.bounds.length === 2;
    const b = field.bounds, sx = (x) => (x - b[0][0]) / (b[0][1] - b[0][0]) * size;
    const vlo = two ? b[1][0] : Math.min(...vals), vhi = two ? b[1][1] : Math.max(...vals);
    const sy = (y) => size - (y - vlo) / (vhi - vlo || 1) * size;
    if (two) {
      const px = size / cells;
      vals.forEach((v, i) => { ctx.fillStyle = css(colour(v, lo, hi, centre)); ctx.fillRect((i % cells) * px, Math.floor(i / cells) * px, px + 1, px + 1); });
    } else {
      ctx.strokeStyle = "#183a59"; ctx.lineWidth = 2; ctx.beginPath();
      field.points.forEach((p, i) => (i ? ctx.lineTo(sx(p[0]), sy(vals[i])) : ctx.moveTo(sx(p[0]), sy(vals[i]))));
      ctx.stroke();
    }
    const s = page.samples;
    if (s && s.x.length && s.x[0].length === b.length) {
      s.x.forEach((x, i) => {
        ctx.beginPath(); ctx.arc(sx(x[0]), two ? sy(x[1]) : sy(s.t[i][0]), 8, 0, 2 * Math.PI);
        ctx.fillStyle = css(colour(s.t[i][0], lo, hi, centre)); ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = "#fff"; ctx.stroke();
        ctx.lineWidth = 1; ctx.strokeStyle = "#000"; ctx.beginPath(); ctx.arc(sx(x[0]), two ? sy(x[1]) : sy(s.t[i][0]), 9.5, 0, 2 * Math.PI); ctx.stroke();
      });
    }
    $("surface-note").textContent = "output 1 of " + net.layers[last - 1].out_features + " over x1 ∈ [" + b[0].map((v) => v.toFixed(2)) + "]" +
      (two ? ", x2 ∈ [" + b[1].map((v) => v.toFixed(2)) + "]" : "") + (s ? "; dots: " + s.x.length + " samples (" + s.source + "), filled by target" : "; no samples");
  }

  // ---------------------------------------------------------------- the loss curve
  function drawLoss() {
    const svg = $("loss"), W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), pad = 60;
    svg.replaceChildren();
    const log = $("log").checked, entries = (page.history || []).filter((e) => typeof e.loss === "number" && (!log || e.loss > 0));
    if (!entries.length) { $("loss-note").textContent = "no loss recorded yet"; return; }
    const y = (v) => (log ? Math.log10(v) : v), ys = entries.map((e) => y(e.loss));
    let lo = Math.min(...ys), hi = Math.max(...ys);
    if (hi === lo) { lo = log ? lo - 1 : 0; hi = log ? hi + 1 : hi * 1.25 || 1; }
    const ids = entries.map((e) => e.id), x0 = Math.min(...ids), x1 = Math.max(...ids);
    const px = (id) => pad + (x1 > x0 ? (id - x0) / (x1 - x0) : 0.5) * (W - pad - 10), py = (v) => H - 20 - (v - lo) / (hi - lo) * (H - 30);
    el("line", { x1: pad, y1: H - 20, x2: W - 10, y2: H - 20, stroke: "#999" }, svg, true);
    el("line", { x1: pad, y1: 10, x2: pad, y2: H - 20, stroke: "#999" }, svg, true);
    for (const [v, yy] of [[hi, 14], [lo, H - 22]]) el("text", { x: pad - 4, y: yy, "font-size": 10, "text-anchor": "end" }, svg, true).textContent = log ? "1e" + v.toFixed(1) : v.toPrecision(3);
    el("polyline", { points: entries.map((e, i) => px(e.id) + "," + py(ys[i])).join(" "), fill: "none", stroke: "#b2182b", "stroke-width": 2 }, svg, true);
    entries.forEach((e, i) => {
      const dot = el("circle", { cx: px(e.id), cy: py(ys[i]), r: shown && shown.id === e.id ? 6 : 3, fill: "#b2182b", class: "loss-point" }, svg, true);
      hoverable(dot, () => [["loss", e.loss, "entry " + e.id + ", step " + e.step]]);
    });
    const metric = ["accuracy", "r2", "metric"].find((k) => (page.history || []).some((e) => typeof e[k] === "number"));
    if (metric) {
      const m = page.history.filter((e) => typeof e[metric] === "number");
      el("polyline", { points: m.map((e) => px(e.id) + "," + (H - 20 - e[metric] * (H - 30))).join(" "), fill: "none", stroke: "#2166ac", "stroke-dasharray": "4 3" }, svg, true);
    }
    el("text", { x: pad, y: H - 4, "font-size": 10 }, svg, true).textContent = "history entry " + x0 + " … " + x1;
    $("loss-note").textContent = entries.length + " recorded losses" + (metric ? "; dashed: " + metric + " (0 to 1)" : "");
  }

  // ---------------------------------------------------------------- the last change as the update equation
  const RULES = {
    sgd: (s) => (s.momentum ? "b′ = μ·b + (1 − dampening)·∇W" + (s.weight_decay ? " (∇W + wd·W)" : "") + "\nW′ = W − lr·" + (s.nesterov ? "(∇W + μ·b′)" : "b′")
      : "W′ = W − lr·" + (s.weight_decay ? "(∇W + wd·W)" : "∇W")),
    adam: () => "m′ = β1·m + (1 − β1)·∇W\nv′ = β2·v + (1 − β2)·∇W²\nW′ = W − lr·m̂′ / (√v̂′ + ε)",
    adamw: () => "W ← W − lr·wd·W\nm′ = β1·m + (1 − β1)·∇W\nv′ = β2·v + (1 − β2)·∇W²\nW′ = W − lr·m̂′ / (√v̂′ + ε)",
    rmsprop: () => "v′ = α·v + (1 − α)·∇W²\nW′ = W − lr·∇W / (√v′ + ε)",
  };
  function drawEquation(net, change) {
    const opt = net.optimizer || {}, s = opt.settings || {}, lines = [];
    lines.push("optimizer: " + (opt.name || "none yet") + "  " + Object.entries(s).map(([k, v]) => k + "=" + fmt(v)).join(" "));
    if (opt.name && RULES[opt.name]) lines.push(RULES[opt.name](s));
    if (!change || shown) lines.push(shown ? "(a past entry: the change shown is the latest one's)" : "no earlier snapshot to compare with");
    if (change) {
      lines.push("");
      for (const layer of page.network.layers) {
        const before = at(change.before[layer.weight], 0, 0), after = at(page.network.params[layer.weight], 0, 0);
        const grad = at(page.network.grads[layer.weight], 0, 0), d = at(change.params[layer.weight], 0, 0);
        let text = layer.weight + "[0,0]: " + fmt(before) + " → " + fmt(after) + "  (Δ " + fmt(d) + ", ∇W " + fmt(grad) + ")";
        if (opt.name === "sgd" && !s.momentum && !s.weight_decay && typeof grad === "number") {
          text += "\n    W − lr·∇W = " + fmt(before) + " − " + fmt(s.lr) + "·" + fmt(grad) + " = " + fmt(before - s.lr * grad);
        }
        lines.push(text);
      }
    }
    $("equation").textContent = lines.join("\n");
  }

  // ---------------------------------------------------------------- the page as a whole
  function render() {
    if (!page) return;
    const broken = page.error !== null;
    document.body.classList.toggle("broken", broken);
    $("error").hidden = !broken;
    $("error").textContent = broken ? page.error : "";
    $("where").textContent = page.state;
    document.body.dataset.updates = updates;
    if (broken) return;
    const net = shown ? shown.network : page.network;
    document.body.dataset.head = page.head;
    document.body.dataset.step = page.network.step;
    document.body.dataset.shown = shown ? shown.id : page.head;
    $("status").textContent = (BAKED ? "exported" : "live") + " · step " + page.network.step + " · " + page.network.dtype;
    drawTimeline();
    drawNetwork(net);
    drawHeatmaps(net, shown ? null : page.change);
    drawSurface(net);
    drawLoss();
    drawEquation(net, page.change);
    document.body.dataset.renderedAt = Date.now();  // when this state was on screen (the benchmark's clock)
  }
  function drawTimeline() {
    const entries = page.history || [], slider = $("timeline");
    slider.max = Math.max(0, entries.length - 1);
    const id = shown ? shown.id : page.head, i = entries.findIndex((e) => e.id === id);
    if (i >= 0) slider.value = i;
    const e = entries[i];
    $("moment").textContent = e ? "entry " + e.id + " · step " + e.step + " · " + e.command + (shown ? "  (past)" : "  (now)") : "";
  }
  async function pick(index) {
    const e = (page.history || [])[index];
    if (!e || e.id === page.head) { shown = null; render(); return; }
    if (!e.snapshot) { $("moment").textContent = "entry " + e.id + ": no snapshot kept (only the newest are)"; return; }
    let snap = snapshots[e.id];
    if (!snap && !BAKED) {
      const r = await fetch(url("api/snapshot/" + e.id));
      snap = await r.json();
      if (!r.ok) { $("moment").textContent = snap.error; return; }
    }
    shown = snap; render();
  }
  async function run(body) {
    document.body.dataset.running = "1";
    $("runlog").textContent = "running linctl " + body.command + " …";
    document.querySelectorAll(".writes button").forEach((b) => (b.disabled = true));
    try {
      const r = await fetch(url("api/run"), { method: "POST", headers: { "Content-Type": "application/json", "X-Linctl-Token": TOKEN }, body: JSON.stringify(body) });
      const done = await r.json();
      $("runlog").textContent = done.error ? done.error : done.command + ": done" + (done.result && typeof done.result.loss === "number" ? ", loss " + done.result.loss : "");
    } catch (err) {
      $("runlog").textContent = "the server did not answer: " + err;
    } finally {
      document.querySelectorAll(".writes button").forEach((b) => (b.disabled = false));
      document.body.dataset.running = "";
      document.body.dataset.runs = (+document.body.dataset.runs || 0) + 1;
    }
  }
  function receive(data) { page = data; ACT = activations(data.activations); updates += 1; if (shown && !page.history.some((e) => e.id === shown.id)) shown = null; render(); }

  window.linctlView = { forward, network: () => (page ? page.network : null) };  // the page's own forward pass, for the console
  window.addEventListener("error", (e) => { $("status").textContent = "page error: " + e.message; });
  $("timeline").addEventListener("input", (e) => pick(+e.target.value));
  $("live").addEventListener("click", () => { shown = null; render(); });
  $("log").addEventListener("change", drawLoss);
  $("train-step").addEventListener("click", () => run({ command: "train-step" }));
  $("train").addEventListener("click", () => run({ command: "train", steps: Math.max(1, Math.floor(+$("train-steps").value || 1)) }));
  if (BAKED) {
    document.body.classList.add("export");
    receive(BAKED);
  } else {
    const events = new EventSource(url("api/events"));
    events.addEventListener("state", (e) => receive(JSON.parse(e.data)));
    events.onerror = () => { $("status").textContent = "reconnecting to linctl view …"; };
  }
})();
