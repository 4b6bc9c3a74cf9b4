// linctl view, part 2 of 3: the panels. The network as Playground draws it, the heatmaps per layer, the decision
// surface, the loss curve and the last change as its update equation; each draws one network into its element.
"use strict";
(function (L) {
  const { $, colour, css, reach, short, fmt, el, at, grid, hover, unhover, hoverable, pictured, plane, scaleOf,
    drawPicture } = L;
  const NODE = 44, ROW = 62, COLUMN = 150, GRID = 22, DRAWN = 16;

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
    const s = L.page.samples;
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
    const log = $("log").checked, shown = (v) => typeof v === "number" && (!log || v > 0);
    const entries = (L.page.history || []).filter((e) => shown(e.loss)), held = entries.filter((e) => shown(e.val_loss));
    if (!entries.length) { $("loss-note").textContent = "no loss recorded yet"; return; }
    const y = (v) => (log ? Math.log10(v) : v), ys = entries.map((e) => y(e.loss)).concat(held.map((e) => y(e.val_loss)));
    let lo = Math.min(...ys), hi = Math.max(...ys);
    if (hi === lo) { lo = log ? lo - 1 : 0; hi = log ? hi + 1 : hi * 1.25 || 1; }
    const ids = entries.map((e) => e.id), x0 = Math.min(...ids), x1 = Math.max(...ids);
    const px = (id) => pad + (x1 > x0 ? (id - x0) / (x1 - x0) : 0.5) * (W - pad - 10), py = (v) => H - 20 - (y(v) - lo) / (hi - lo) * (H - 30);
    el("line", { x1: pad, y1: H - 20, x2: W - 10, y2: H - 20, stroke: "#999" }, svg, true);
    el("line", { x1: pad, y1: 10, x2: pad, y2: H - 20, stroke: "#999" }, svg, true);
    for (const [v, yy] of [[hi, 14], [lo, H - 22]]) el("text", { x: pad - 4, y: yy, "font-size": 10, "text-anchor": "end" }, svg, true).textContent = log ? "1e" + v.toFixed(1) : v.toPrecision(3);
    const where = (e) => "entry " + e.id + ", step " + e.step;
    // one series: a line through its points, each point a dot with its numbers on hover
    const series = (list, value, at, colour, hollow, kind, lines) => {
      el("polyline", { points: list.map((e) => px(e.id) + "," + at(value(e))).join(" "), fill: "none", stroke: colour, "stroke-width": hollow ? 1.5 : 2, "stroke-dasharray": hollow ? "4 3" : "" }, svg, true);
      for (const e of list) {
        const dot = el("circle", { cx: px(e.id), cy: at(value(e)), r: L.shown && L.shown.id === e.id ? 6 : 3, fill: hollow ? "#fff" : colour, stroke: colour, class: kind }, svg, true);
        hoverable(dot, () => lines(e));
      }
    };
    const name = { accuracy: "accuracy", r2: "R²" }[entries.map((e) => e.metric_name).find((n) => n)] || "metric";
    const lossLines = (e) => [["loss", e.loss, where(e)]].concat(typeof e.val_loss === "number" ? [["held-out loss", e.val_loss, ""]] : []);
    const metricLines = (e) => [[name, e.metric, where(e)]].concat(typeof e.val_metric === "number" ? [["held-out " + name, e.val_metric, ""]] : []);
    const scored = entries.filter((e) => typeof e.metric === "number");
    if (scored.length) series(scored, (e) => e.metric, (v) => H - 20 - Math.min(Math.max(v, 0), 1) * (H - 30), "#2166ac", true, "metric-point", metricLines);
    if (held.length) series(held, (e) => e.val_loss, py, "#b2182b", true, "val-loss-point", lossLines);
    series(entries, (e) => e.loss, py, "#b2182b", false, "loss-point", lossLines);
    el("text", { x: pad, y: H - 4, "font-size": 10 }, svg, true).textContent = "history entry " + x0 + " … " + x1;
    $("loss-note").textContent = entries.length + " recorded losses" + (held.length ? "; hollow red: held-out loss" : "") +
      (scored.length ? "; blue: " + name + " (0 to 1 on the same height)" : "");
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
    if (!change || L.shown) lines.push(L.shown ? "(a past entry: the change shown is the latest one's)" : "no earlier snapshot to compare with");
    if (!change) { $("equation").textContent = lines.join("\n"); return; }
    const steps = change.steps, dtype = L.page.network.dtype;
    const head = (L.page.history || []).find((e) => e.id === L.page.head);
    lines.push("", "the last change" + (head ? " (" + head.command + ")" : "") + ": " +
      (steps === 1 ? "one optimizer step" : steps ? steps + " optimizer steps; W − lr·∇W is checked on a single step (step or train-step)"
        : "no optimizer step"));
    for (const layer of L.page.network.layers) {
      const before = at(change.before[layer.weight], 0, 0), after = at(L.page.network.params[layer.weight], 0, 0);
      const grad = at(L.page.network.grads[layer.weight], 0, 0), d = at(change.params[layer.weight], 0, 0);
      let text = layer.weight + "[0,0]: " + fmt(before) + " → " + fmt(after) + "  (Δ " + fmt(d) + ", ∇W " + fmt(grad) + ")";
      if (steps === 1 && opt.name === "sgd" && !s.momentum && !s.weight_decay && typeof grad === "number" &&
          typeof before === "number" && typeof after === "number") {
        const hand = stepped(before, grad, s.lr, dtype), gap = Math.abs(hand - rounded(after, dtype));
        text += "\n    by hand, in " + dtype + ": W − lr·∇W = " + fmt(before) + " − " + fmt(s.lr) + "·" + fmt(grad) + " = " +
          written(hand, dtype) + (gap === 0 ? "  (the state file's, exactly)" : "  (the state file holds " + fmt(after) + "; |difference| " + short(gap) + ")");
      }
      lines.push(text);
    }
    $("equation").textContent = lines.join("\n");
  }
  function rounded(v, dtype) { return dtype === "float32" ? Math.fround(v) : v; }
  function stepped(w, g, lr, dtype) {   // one plain SGD step as torch does it: w + (−lr)·g, rounded once to the dtype
    return rounded(rounded(w, dtype) + rounded(-lr, dtype) * rounded(g, dtype), dtype);
  }
  function written(v, dtype) {          // the shortest decimal that reads back as this value in the dtype
    if (dtype !== "float32") return String(v);
    for (let p = 1; p < 10; p++) { const t = Number(v.toPrecision(p)); if (Math.fround(t) === v) return String(t); }
    return String(v);
  }

  Object.assign(L, { drawNetwork, drawHeatmaps, drawSurface, drawLoss, drawEquation });
})(window.linctl);
