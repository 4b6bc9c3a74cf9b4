// linctl view, part 3 of 3: the page as a whole. It receives the page data the server sends (or an export baked
// into data.js), moves along the history's timeline, and runs train-step and train through the server.
// Plain DOM, SVG and canvas; no framework, no build step. Numbers are shown as the state file holds them.
"use strict";
(function (L) {
  const { $, activations, forward, drawNetwork, drawHeatmaps, drawSurface, drawLoss, drawEquation } = L;
  const TOKEN = window.LINCTL_TOKEN || null;
  const BAKED = window.LINCTL_DATA || null;
  const snapshots = BAKED ? BAKED.snapshots || {} : {};
  let updates = 0;

  function url(path) { return TOKEN ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : path; }
  function render() {
    if (!L.page) return;
    const broken = L.page.error !== null;
    document.body.classList.toggle("broken", broken);
    $("error").hidden = !broken;
    $("error").textContent = broken ? L.page.error : "";
    $("where").textContent = L.page.state;
    document.body.dataset.updates = updates;
    if (broken) return;
    const net = L.shown ? L.shown.network : L.page.network;
    document.body.dataset.head = L.page.head;
    document.body.dataset.step = L.page.network.step;
    document.body.dataset.shown = L.shown ? L.shown.id : L.page.head;
    $("status").textContent = (BAKED ? "exported" : "live") + " · step " + L.page.network.step + " · " + L.page.network.dtype;
    drawTimeline();
    drawNetwork(net);
    drawHeatmaps(net, L.shown ? null : L.page.change);
    drawSurface(net);
    drawLoss();
    drawEquation(net, L.page.change);
    document.body.dataset.renderedAt = Date.now();  // when this state was on screen (the benchmark's clock)
  }
  function drawTimeline() {
    const entries = L.page.history || [], slider = $("timeline");
    slider.max = Math.max(0, entries.length - 1);
    const id = L.shown ? L.shown.id : L.page.head, i = entries.findIndex((e) => e.id === id);
    if (i >= 0) slider.value = i;
    const e = entries[i];
    $("moment").textContent = e ? "entry " + e.id + " · step " + e.step + " · " + e.command + (L.shown ? "  (past)" : "  (now)") : "";
  }
  async function pick(index) {
    const e = (L.page.history || [])[index];
    if (!e || e.id === L.page.head) { L.shown = null; render(); return; }
    if (!e.snapshot) { $("moment").textContent = "entry " + e.id + ": no snapshot kept (only the newest are)"; return; }
    let snap = snapshots[e.id];
    if (!snap && !BAKED) {
      const r = await fetch(url("api/snapshot/" + e.id));
      snap = await r.json();
      if (!r.ok) { $("moment").textContent = snap.error; return; }
    }
    L.shown = snap; render();
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
  function receive(data) { L.page = data; L.act = activations(data.activations); updates += 1; if (L.shown && !L.page.history.some((e) => e.id === L.shown.id)) L.shown = null; render(); }

  window.linctlView = { forward, network: () => (L.page ? L.page.network : null) };  // the page's own forward pass, for the console
  window.addEventListener("error", (e) => { $("status").textContent = "page error: " + e.message; });
  $("timeline").addEventListener("input", (e) => pick(+e.target.value));
  $("live").addEventListener("click", () => { L.shown = null; render(); });
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
})(window.linctl);
