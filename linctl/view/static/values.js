// linctl view, part 1 of 3: what the pictures are made of. Colours, DOM and hover helpers, the exact values of a
// tensor record, and the network's forward pass over the input plane. Loaded first; the parts share window.linctl.
"use strict";
(function (L) {
  const NEG = [33, 102, 172], ZERO = [247, 247, 247], POS = [178, 24, 43];
  const $ = (id) => document.getElementById(id);
  L.page = null;   // the latest page data (the state file now)
  L.shown = null;  // {id, network}: a past snapshot on the timeline, or null for now
  L.act = {};      // each activation's browser function, from the page data

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
      net.layers.every((l) => full(net.params[l.weight]) && L.act[l.activation]);
  }
  function forward(net, x) { // [inputs, layer 1 outputs, ...] for one sample
    const outs = [x];
    let h = x;
    for (const layer of net.layers) {
      const w = net.params[layer.weight].values, b = layer.bias ? net.params[layer.bias].values : null;
      const z = w.map((row, k) => row.reduce((s, wk, j) => s + wk * h[j], b ? b[k] : 0));
      h = L.act[layer.activation](z);
      outs.push(h);
    }
    return outs;
  }
  function bounds(net) {     // the input plane: the samples' range with a quarter margin, else -1..1
    const n = net.layers[0].in_features, s = L.page && L.page.samples;
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
    const acts = L.page && L.page.activations, range = acts && acts[activation] && acts[activation].range;
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


  Object.assign(L, { $, colour, css, reach, short, fmt, el, full, at, grid, hover, unhover, hoverable, activations,
    pictured, forward, plane, scaleOf, drawPicture });
})(window.linctl = window.linctl || {});
