// redsweep dashboard: draws the pages from the server's JSON with plotly.js (loaded before).
// The server aggregates everything; this file only lays it out, keeps the runs table's sort,
// filter and page across live refreshes, and sends the control buttons' POSTs.
(function () {
  "use strict";
  const PAGE = JSON.parse(document.getElementById("page").textContent);
  const REPORT = !!PAGE.report;
  const main = document.getElementById("main");
  const STATES = {
    pending: "#8a94a6", running: "#2f6fde", finished: "#1f9d55", stopped: "#c98a0b",
    failed: "#d64545", crashed: "#b02a7a", killed: "#6b4fbb", paused: "#c98a0b",
    canceled: "#6b7280",
  };
  // which states allow each control (redsweep.control.VERBS)
  const VERBS = {
    pause: ["pending", "running"],
    resume: ["paused", "finished", "canceled"],
    stop: ["pending", "running", "paused"],
    cancel: ["pending", "running", "paused", "finished"],
  };
  const PLOT_CONFIG = { displaylogo: false, responsive: true };
  // plotly.js loads beside this file (async: the page's text and the parallel coordinates,
  // which need none of it, show before its megabytes are compiled); the plots wait for it
  let plotlyLoaded = null;
  function plotlyReady() {
    plotlyLoaded = plotlyLoaded || new Promise((resolve, reject) => {
      if (window.Plotly) { resolve(); return; }
      const tag = document.getElementById("plotly-js");
      if (!tag) { reject(new Error("plotly.js is not on this page")); return; }
      tag.addEventListener("load", () => { window.redsweepDrawMs.plotlyAt = Math.round(performance.now()); resolve(); });
      tag.addEventListener("error", () => reject(new Error("plotly.js did not load")));
    });
    return plotlyLoaded;
  }
  const table = { key: "created_ms", dir: 1, filter: "", state: "", page: 0, size: 50 };

  // ---- small helpers ----------------------------------------------------------------------
  function link(path) {
    if (REPORT) return null;
    return PAGE.token ? path + "?token=" + encodeURIComponent(PAGE.token) : path;
  }
  function apiUrl(path, params) {
    const q = new URLSearchParams(params || {});
    if (PAGE.token) q.set("token", PAGE.token);
    const s = q.toString();
    return s ? path + "?" + s : path;
  }
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "style") node.setAttribute("style", v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function a(path, text, attrs) {
    const href = link(path);
    return href ? h("a", Object.assign({ href: href }, attrs || {}), text) : h("span", attrs, text);
  }
  function num(v) {
    if (v === null || v === undefined || v === "") return "";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return v.toLocaleString("en");
    const abs = Math.abs(v);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }
  function when(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function seconds(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " m " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " m";
  }
  function badge(state) {
    return h("span", { class: "badge", "data-state": state, style: "background:" + (STATES[state] || "#888") }, state);
  }
  function card(title, body, extra) {
    return h("section", { class: "card " + (extra || "") }, h("h2", null, title), body);
  }
  function progress(done, expected) {
    // no bar for a sweep without a grid size or run cap: there is no end to measure against
    const pct = expected ? Math.min(100, (100 * done) / expected) : null;
    return h("div", { class: "progress", title: expected ? done + " of " + expected : done + " done (no run cap)" },
      pct === null ? null : h("div", { class: "bar" }, h("div", { class: "fill", style: "width:" + pct + "%" })),
      h("span", null, expected ? done + " / " + expected + " done" : done + " done"));
  }
  function message(text, bad) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.className = "flash " + (bad ? "bad" : "good");
  }
  function crumbs(parts) {
    const nav = document.getElementById("crumbs");
    nav.replaceChildren(...parts.map((p) => h("span", { class: "crumb" }, p)));
    const home = document.getElementById("home");
    if (REPORT) home.removeAttribute("href");
    else home.setAttribute("href", link("/"));
  }

  // ---- control buttons ----------------------------------------------------------------------
  function controls(sweep) {
    if (REPORT) return null;
    return h("div", { class: "controls" }, Object.keys(VERBS).map((verb) =>
      h("button", {
        class: "btn " + verb, "data-verb": verb, "data-sweep": sweep.id,
        disabled: VERBS[verb].indexOf(sweep.state) < 0,
        title: verb + " sweep " + sweep.id,
        onclick: () => act(verb, sweep.id),
      }, verb)));
  }
  async function act(verb, id) {
    // (the event stream brings the change; the refresh below only makes it immediate)
    if (verb === "cancel" && !window.confirm("Cancel sweep " + id + "? Its running runs are killed.")) return;
    try {
      const r = await fetch(apiUrl("/api/sweeps/" + encodeURIComponent(id) + "/" + verb),
        { method: "POST", headers: { "X-CSRF-Token": PAGE.csrf } });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      message("sweep " + id + ": " + body.before + " → " + body.after +
        (body.killed.length ? " (" + body.killed.length + " runs killed)" : ""), false);
    } catch (e) {
      message(String(e.message || e), true);
    }
    refresh();
  }

  // ---- the sweeps list ----------------------------------------------------------------------
  function renderSweeps(data) {
    crumbs(["sweeps"]);
    if (!data.sweeps.length) {
      main.replaceChildren(h("div", { id: "flash", class: "flash" }),
        card("No sweeps yet", h("p", null, "Create one with ", h("code", null, "redsweep sweep CONFIG"), ".")));
      return;
    }
    const head = ["Sweep", "State", "Method", "Project", "Runs done", "Running", "Failed", "Best", "Created", ""];
    const rows = data.sweeps.map((s) => h("tr", { "data-sweep-id": s.id },
      h("td", null, a("/sweeps/" + s.id, s.name || s.id, { class: "strong" }), h("div", { class: "muted mono" }, s.id)),
      h("td", null, badge(s.state), s.done_reason ? h("div", { class: "muted" }, s.done_reason) : null),
      h("td", null, s.method),
      h("td", null, s.project || ""),
      h("td", null, progress(s.done, s.expected)),
      h("td", { class: "num" }, s.running),
      h("td", { class: "num" + (s.failed ? " bad" : "") }, s.failed),
      h("td", { class: "num" }, s.best === null ? "" : num(s.best), s.metric ? h("div", { class: "muted" }, (s.goal === "maximize" ? "max " : "min ") + s.metric) : null),
      h("td", null, when(s.created_ms)),
      h("td", null, controls(s))));
    main.replaceChildren(h("div", { id: "flash", class: "flash" }),
      card(data.sweeps.length + " sweep" + (data.sweeps.length === 1 ? "" : "s"),
        h("table", { class: "grid", id: "sweeps" }, h("thead", null, h("tr", null, head.map((t) => h("th", null, t)))), h("tbody", null, rows))));
  }

  // ---- one sweep ------------------------------------------------------------------------------
  function sweepHeader(s) {
    const facts = [
      ["method", s.method], ["project", s.project || "—"],
      ["metric", s.metric ? (s.goal === "maximize" ? "maximize " : "minimize ") + s.metric : "—"],
      ["best", s.best === null ? "—" : num(s.best)],
      ["running", s.running], ["pending", s.pending], ["failed", s.failed],
      ["created", when(s.created_ms)],
    ];
    return h("section", { class: "card head" },
      h("div", { class: "title" }, h("h1", null, s.name || s.id), badge(s.state),
        s.done_reason ? h("span", { class: "muted" }, s.done_reason) : null,
        h("span", { class: "mono muted" }, s.id)),
      h("div", { class: "facts" }, facts.map(([k, v]) => h("div", { class: "fact" }, h("span", { class: "k" }, k), h("span", { class: "v" }, v)))),
      h("div", { class: "row" }, progress(s.done, s.expected), controls(s)),
      h("div", { id: "flash", class: "flash" }));
  }

  function reversedScale(goal) {
    // the best runs are drawn bright (yellow) whatever the goal
    return goal === "maximize" ? "Viridis" : [[0, "#fde725"], [0.25, "#5ec962"], [0.5, "#21918c"], [0.75, "#3b528b"], [1, "#440154"]];
  }

  // ---- parallel coordinates: lines on a 2D canvas, axes in SVG ------------------------------
  // (plotly's parcoords draws with WebGL, which costs seconds wherever the GPU is missing or
  // software; a thousand polylines on a canvas cost milliseconds.) Drag along an axis to keep
  // the lines in that range (the ranges stay across live refreshes); click the axis to clear.
  const SVG = "http://www.w3.org/2000/svg";
  const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  const brushes = {};
  function svgEl(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function rgb(hex) { return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)); }
  // the colour of t in [0, 1] on viridis; the best runs bright (yellow) whatever the goal
  function colourOf(t) {
    const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const [c0, c1] = [rgb(VIRIDIS[i]), rgb(VIRIDIS[i + 1])];
    return "rgb(" + c0.map((c, k) => Math.round(c + (c1[k] - c) * (x - i))).join(",") + ")";
  }
  function niceTicks(lo, hi, integers) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = mag * (raw / mag >= 5 ? 5 : raw / mag >= 2 ? 2 : 1);
    if (integers) step = Math.max(1, Math.round(step));
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }
  function extent(values, extra) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values.concat(extra || [])) if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo === Infinity) return [0, 1];
    return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
  }

  function drawParallel(node, note, data) {
    const p = data.parallel;
    const sample = p && p.runs < p.scored ? p.runs + " of " + p.scored + " runs: the best quarter and an even spread of the rest" : "";
    if (!p || !p.runs) { note.textContent = ""; node.replaceChildren(h("p", { class: "muted empty" }, "No run has a value of the metric yet.")); return; }
    const width = Math.max(480, node.clientWidth || 900), height = 360;
    const m = { l: 60, r: 110, t: 44, b: 22 };
    const dims = p.dimensions.map((d) => {
      const [lo, hi] = extent(d.values, d.tickvals);
      return Object.assign({ lo: lo, hi: hi }, d);
    });
    const gap = (width - m.l - m.r) / Math.max(1, dims.length - 1);
    const xOf = (i) => m.l + i * gap;
    const yOf = (d, v) => m.t + (1 - (v - d.lo) / (d.hi - d.lo)) * (height - m.t - m.b);
    const vOf = (d, y) => d.lo + (1 - (y - m.t) / (height - m.t - m.b)) * (d.hi - d.lo);
    const metric = dims[dims.length - 1];
    const maximize = data.sweep.goal === "maximize";
    const tOf = (v) => { const t = (v - metric.lo) / (metric.hi - metric.lo); return maximize ? t : 1 - t; };
    // worst first, so the best lines lie on top
    const order = p.color.map((_, i) => i).sort((i, j) => tOf(p.color[i]) - tOf(p.color[j]));

    const canvas = h("canvas", { class: "pc-lines", style: "position:absolute;left:0;top:0;width:" + width + "px;height:" + height + "px" });
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const svg = svgEl("svg", { class: "pc", width: width, height: height, style: "position:absolute;left:0;top:0" });
    const box = h("div", { class: "pc-box", style: "position:relative;height:" + height + "px" }, canvas, svg);

    function inside(i) {
      return dims.every((d) => {
        const b = brushes[d.label];
        if (!b) return true;
        const v = d.values[i];
        return v !== null && v >= Math.min(b[0], b[1]) && v <= Math.max(b[0], b[1]);
      });
    }
    function paint() {
      const ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.lineWidth = 1;
      const keep = order.filter(inside);
      const kept = new Set(keep);
      const path = (i) => {
        ctx.beginPath();
        dims.forEach((d, k) => { const y = yOf(d, d.values[i]); if (k) ctx.lineTo(xOf(k), y); else ctx.moveTo(xOf(k), y); });
        ctx.stroke();
      };
      ctx.strokeStyle = "rgba(160,168,184,0.25)";
      for (const i of order) if (!kept.has(i)) path(i);
      ctx.globalAlpha = p.runs > 300 ? 0.55 : 0.85;
      for (const i of keep) { ctx.strokeStyle = colourOf(tOf(p.color[i])); path(i); }
      ctx.globalAlpha = 1;
      const brushed = Object.keys(brushes).some((k) => dims.some((d) => d.label === k));
      note.textContent = [sample, brushed ? keep.length + " of " + p.runs + " lines in the ranges chosen (click an axis to clear)" : ""].filter(Boolean).join("; ");
      note.setAttribute("data-kept", String(keep.length));
    }

    dims.forEach((d, k) => {
      const x = xOf(k);
      const ticks = d.tickvals ? d.tickvals.map((v, j) => [v, d.ticktext[j]]) : niceTicks(d.lo, d.hi, d.values.every(Number.isInteger)).map((v) => [v, num(v)]);
      const axis = svgEl("g", { class: "pc-axis", "data-label": d.label, transform: "translate(" + x + ",0)" },
        svgEl("line", { x1: 0, x2: 0, y1: m.t, y2: height - m.b, stroke: "#5b6477", "stroke-width": 1 }),
        svgEl("text", { x: 0, y: m.t - 16, "text-anchor": "middle", class: "pc-label" }, d.label));
      for (const [v, text] of ticks) {
        if (v < d.lo || v > d.hi) continue;
        const y = yOf(d, v);
        axis.append(svgEl("line", { x1: -4, x2: 0, y1: y, y2: y, stroke: "#5b6477" }),
          svgEl("text", { x: -6, y: y + 3.5, "text-anchor": "end", class: "pc-tick" }, text));
      }
      const band = svgEl("rect", { class: "pc-brush", x: -6, width: 12, y: 0, height: 0, fill: "rgba(47,111,222,0.25)", stroke: "#2f6fde" });
      const showBand = () => {
        const b = brushes[d.label];
        if (!b) { band.setAttribute("height", 0); return; }
        const [y0, y1] = [yOf(d, b[0]), yOf(d, b[1])];
        band.setAttribute("y", Math.min(y0, y1));
        band.setAttribute("height", Math.abs(y1 - y0));
      };
      const hit = svgEl("rect", { x: -12, width: 24, y: m.t - 4, height: height - m.t - m.b + 8, fill: "transparent", style: "cursor:crosshair" });
      hit.addEventListener("mousedown", (ev) => {
        ev.preventDefault();
        const top = svg.getBoundingClientRect().top;
        const clamp = (y) => Math.max(m.t, Math.min(height - m.b, y));
        const start = clamp(ev.clientY - top);
        let moved = false;
        const move = (e) => {
          const y = clamp(e.clientY - top);
          if (Math.abs(y - start) < 3 && !moved) return;
          moved = true;
          brushes[d.label] = [vOf(d, start), vOf(d, y)];
          showBand();
          paint();
        };
        const up = () => {
          window.removeEventListener("mousemove", move);
          window.removeEventListener("mouseup", up);
          if (!moved) { delete brushes[d.label]; showBand(); paint(); }
        };
        window.addEventListener("mousemove", move);
        window.addEventListener("mouseup", up);
      });
      axis.append(band, hit);
      showBand();
      svg.append(axis);
    });
    // the colour bar: the metric's range, best bright
    const barX = width - m.r + 52, barH = height - m.t - m.b;
    const grad = svgEl("linearGradient", { id: "pc-grad", x1: 0, y1: 1, x2: 0, y2: 0 });
    for (let j = 0; j <= 10; j++) {
      const t = j / 10;
      grad.append(svgEl("stop", { offset: t, "stop-color": colourOf(maximize ? t : 1 - t) }));
    }
    svg.append(svgEl("defs", null, grad),
      svgEl("rect", { x: barX, y: m.t, width: 12, height: barH, fill: "url(#pc-grad)" }),
      ...niceTicks(metric.lo, metric.hi).filter((v) => v >= metric.lo && v <= metric.hi).map((v) =>
        svgEl("text", { x: barX + 16, y: yOf(metric, v) + 3.5, class: "pc-tick" }, num(v))));
    node.replaceChildren(box);
    paint();
    if (!node._resize && !REPORT) {
      node._resize = true;
      let timer = null;
      window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(() => node._redraw && node._redraw(), 150); });
    }
    node._redraw = () => drawParallel(node, note, data);
  }

  // the forest is fitted apart on the server: the correlations (sent with the page) show
  // until it answers; the last importances stay until new ones come
  async function fetchImportance(node) {
    if (!node.firstChild) node.append(h("p", { class: "muted empty" }, "Fitting the random forest…"));
    try {
      const r = await fetch(apiUrl("/api/sweeps/" + encodeURIComponent(PAGE.sweep) + "/importance"));
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      drawImportance(node, body.importance);
      node.setAttribute("data-fitted", "1");
      if (!document.body.hasAttribute("data-fitted")) document.body.setAttribute("data-fitted", String(Math.round(performance.now())));
    } catch (e) {
      node.replaceChildren(h("p", { class: "bad" }, String(e.message || e)));
    }
  }

  function drawImportance(node, rows) {
    if (!rows.length) { node.replaceChildren(h("p", { class: "muted empty" }, "Needs three runs with a value of the metric, and a parameter that varies.")); return; }
    const top = Math.max(...rows.map((r) => r.importance || 0), 1e-12);
    node.replaceChildren(h("table", { class: "importance" },
      h("thead", null, h("tr", null, h("th", null, "Parameter"), h("th", null, "Importance"), h("th", null, "Correlation"))),
      h("tbody", null, rows.map((r) => h("tr", { "data-param": r.name },
        h("td", { class: "mono" }, r.name),
        h("td", null, r.importance === null ? h("span", { class: "muted fitting" }, "fitting the forest…") :
          h("div", { class: "hbar", title: num(r.importance) }, h("div", { class: "imp", style: "width:" + (100 * r.importance / top) + "%" }), h("span", null, num(r.importance)))),
        h("td", null, r.correlation === null ? h("span", { class: "muted" }, "—") :
          h("div", { class: "cbar", title: num(r.correlation) },
            h("div", { class: r.correlation >= 0 ? "pos" : "neg", style: "width:" + (50 * Math.abs(r.correlation)) + "%;" + (r.correlation >= 0 ? "left:50%" : "right:50%") }),
            h("span", null, num(r.correlation)))))))));
  }

  function drawScatter(node, note, data) {
    const s = data.scatter;
    note.textContent = s && s.x.length < s.scored ? s.x.length + " of " + s.scored + " runs: the best quarter and an even spread of the rest; the best so far of all" : "";
    if (!s || !s.x.length) { node.replaceChildren(h("p", { class: "muted empty" }, "No run has a value of the metric yet.")); return; }
    const x = s.x;
    Plotly.react(node, [
      { type: "scatter", mode: "markers", name: "runs", x: x, y: s.y, customdata: s.ids,
        text: s.created_ms.map(when),
        marker: { size: 7, color: s.y, colorscale: reversedScale(data.sweep.goal), opacity: 0.85 },
        hovertemplate: "run %{customdata} (#%{x}, created %{text})<br>%{y}<extra></extra>" },
      { type: "scatter", mode: "lines", name: "best so far", x: s.best_x, y: s.best, line: { shape: "hv", color: "#d64545", width: 2 } },
    ], { margin: { l: 60, r: 20, t: 10, b: 40 }, height: 320, showlegend: true,
      legend: { orientation: "h", y: 1.08 }, xaxis: { title: { text: "run, in order of creation" } },
      yaxis: { title: { text: data.sweep.metric } }, paper_bgcolor: "rgba(0,0,0,0)" }, PLOT_CONFIG);
    if (!node._linked && !REPORT) {
      node._linked = true;
      node.on("plotly_click", (ev) => {
        const id = ev.points[0] && ev.points[0].customdata;
        if (id) window.location.href = link("/sweeps/" + PAGE.sweep + "/runs/" + id);
      });
    }
  }

  function drawCurves(node, note, data) {
    const c = data.curves;
    if (!c.metric || !c.runs.length) { node.replaceChildren(h("p", { class: "muted empty" }, "No run has logged the metric yet.")); note.textContent = ""; return; }
    const traces = [];
    const many = c.runs.length > 12;
    for (const r of c.runs) {
      traces.push({ type: "scatter", mode: "lines", name: r.id, x: r.x, y: r.y,
        line: { width: r.state === "running" ? 2.5 : 1.2, color: r.state === "running" ? STATES.running : undefined },
        opacity: many && r.state !== "running" ? 0.55 : 0.9,
        hovertemplate: "run " + r.id + " (" + r.state + ")<br>step %{x}: %{y}<extra></extra>" });
    }
    const stopped = c.runs.filter((r) => r.stop);
    if (stopped.length) {
      traces.push({ type: "scatter", mode: "markers", name: "stopped early",
        x: stopped.map((r) => r.x[r.x.length - 1]), y: stopped.map((r) => r.y[r.y.length - 1]),
        text: stopped.map((r) => "run " + r.id + ": " + r.stop),
        marker: { symbol: "x", size: 9, color: STATES.stopped, line: { width: 1 } },
        hovertemplate: "%{text}<extra></extra>" });
    }
    Plotly.react(node, traces, { margin: { l: 60, r: 20, t: 10, b: 40 }, height: 320,
      showlegend: !many, xaxis: { title: { text: "step" } }, yaxis: { title: { text: c.metric } },
      paper_bgcolor: "rgba(0,0,0,0)" }, PLOT_CONFIG);
    note.textContent = c.runs.length < c.logged ? "the curves of " + c.runs.length + " of " + c.logged +
      " runs: the running, the best and the newest" : c.runs.length + " runs";
  }

  function cellValue(run, key) {
    if (key.startsWith("config.")) return run.config[key.slice(7)];
    if (key === "note") return run.error || run.stop || "";
    return run[key];
  }
  function matches(run, text) {
    if (!text) return true;
    const hay = [run.id, run.state, run.worker || "", run.error || "", run.stop || "",
      ...Object.entries(run.config).map(([k, v]) => k + "=" + v)].join(" ").toLowerCase();
    return text.toLowerCase().split(/\s+/).every((w) => hay.indexOf(w) >= 0);
  }
  function compare(x, y) {
    if (x === y) return 0;
    if (x === null || x === undefined || x === "") return 1;
    if (y === null || y === undefined || y === "") return -1;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x).localeCompare(String(y));
  }

  function drawTable(box, data) {
    const columns = [["id", "Run"], ["state", "State"], ["value", data.sweep.metric || "value"]]
      .concat(data.params.map((p) => ["config." + p, p]))
      .concat([["duration_s", "Duration"], ["worker", "Worker"], ["note", "Error / stop reason"]]);
    let runs = data.runs.filter((r) => matches(r, table.filter) && (!table.state || r.state === table.state));
    const dir = table.dir;
    runs = runs.slice().sort((r1, r2) => {
      const c = compare(cellValue(r1, table.key), cellValue(r2, table.key));
      return c === 0 ? 0 : (cellValue(r1, table.key) === null || cellValue(r2, table.key) === null ? c : c * dir);
    });
    const pages = Math.max(1, Math.ceil(runs.length / table.size));
    table.page = Math.min(table.page, pages - 1);
    const shown = runs.slice(table.page * table.size, (table.page + 1) * table.size);
    const head = h("tr", null, columns.map(([key, label]) => h("th", {
      class: "sortable" + (table.key === key ? " sorted" : ""), "data-key": key,
      onclick: () => { if (table.key === key) table.dir = -table.dir; else { table.key = key; table.dir = 1; } drawTable(box, data); },
    }, label, table.key === key ? (table.dir > 0 ? " ▲" : " ▼") : "")));
    const body = shown.map((r) => h("tr", { "data-run-id": r.id, "data-state": r.state },
      h("td", { class: "mono" }, a("/sweeps/" + PAGE.sweep + "/runs/" + r.id, r.id)),
      h("td", null, badge(r.state), r.lapsed ? h("span", { class: "muted" }, " lease lapsed") : null),
      h("td", { class: "num value" }, r.value === null ? "" : num(r.value)),
      data.params.map((p) => h("td", { class: "num" }, num(r.config[p]))),
      h("td", { class: "num" }, seconds(r.duration_s)),
      h("td", { class: "mono muted" }, r.worker || ""),
      h("td", { class: r.error ? "bad note" : "note", title: r.error || r.stop || "" }, r.error || r.stop || "")));
    const states = Array.from(new Set(data.runs.map((r) => r.state))).sort();
    const filter = h("input", { type: "search", id: "filter", placeholder: "filter: run id, state, lr=0.01 …", value: table.filter });
    filter.addEventListener("input", () => { table.filter = filter.value; table.page = 0; drawTable(box, data); document.getElementById("filter").focus(); });
    const select = h("select", { id: "state-filter", onchange: (e) => { table.state = e.target.value; table.page = 0; drawTable(box, data); } },
      h("option", { value: "" }, "every state"), states.map((s) => h("option", { value: s, selected: table.state === s }, s)));
    const pager = h("div", { class: "pager" },
      h("button", { class: "btn small", disabled: table.page === 0, onclick: () => { table.page--; drawTable(box, data); } }, "‹ prev"),
      h("span", { class: "muted", id: "table-count" }, runs.length ? (table.page * table.size + 1) + "–" + (table.page * table.size + shown.length) + " of " + runs.length + " runs" : "no runs match"),
      h("button", { class: "btn small", disabled: table.page >= pages - 1, onclick: () => { table.page++; drawTable(box, data); } }, "next ›"));
    box.replaceChildren(h("div", { class: "tools" }, filter, select, pager),
      h("div", { class: "scroll" }, h("table", { class: "grid runs", id: "runs" }, h("thead", null, head), h("tbody", null, body))));
    const caret = filter.value.length;
    filter.setSelectionRange(caret, caret);
  }

  let sweepNodes = null;
  function renderSweep(data) {
    const s = data.sweep;
    document.title = (s.name || s.id) + " · redsweep";
    crumbs([a("/", "sweeps"), s.name || s.id]);
    if (!sweepNodes) {
      sweepNodes = {
        head: h("div"), parallel: h("div", { id: "parallel", class: "plot" }),
        importance: h("div", { id: "importance" }), scatter: h("div", { id: "scatter", class: "plot" }),
        curves: h("div", { id: "curves", class: "plot" }), curvesNote: h("span", { class: "muted note" }),
        parallelNote: h("span", { class: "muted note", id: "parallel-note" }),
        scatterNote: h("span", { class: "muted note" }),
        table: h("div", { id: "table" }),
      };
      const n = sweepNodes;
      main.replaceChildren(...[n.head,
        card(h("span", null, "Parallel coordinates ", n.parallelNote), n.parallel, "wide"),
        h("div", { class: "pair" },
          card("Parameter importance", n.importance),
          card(h("span", null, "Metric by run ", n.scatterNote), n.scatter)),
        card(h("span", null, "Curves ", n.curvesNote), n.curves, "wide"),
        card("Runs", n.table, "wide"),
        REPORT ? h("p", { class: "muted foot" }, "redsweep report of sweep " + s.id + ", made " + PAGE.generated + ".") : null,
      ].filter(Boolean));
    }
    const n = sweepNodes;
    const flash = document.getElementById("flash");
    const kept = flash ? [flash.textContent, flash.className] : null;
    n.head.replaceChildren(sweepHeader(s));
    if (kept) { const f = document.getElementById("flash"); f.textContent = kept[0]; f.className = kept[1]; }
    // the table first (plain HTML, at once), then each plot in its own task, so the page is
    // readable at once; the importances come when the server has fitted them, meanwhile
    if (data.importance !== null) drawImportance(n.importance, data.importance);
    else if (data.correlations && !n.importance.hasAttribute("data-fitted")) drawImportance(n.importance, data.correlations);
    drawTable(n.table, data);
    const forest = data.importance !== null ? Promise.resolve() : fetchImportance(n.importance);
    const fitted = data.correlations ? Promise.resolve() : forest;
    const plots = later(() => timed("parallel", () => drawParallel(n.parallel, n.parallelNote, data)))
      .then(plotlyReady)
      .then(() => later(() => timed("scatter", () => drawScatter(n.scatter, n.scatterNote, data))))
      .then(() => later(() => timed("curves", () => drawCurves(n.curves, n.curvesNote, data))));
    return Promise.all([fitted, plots]);
  }

  // ---- one run --------------------------------------------------------------------------------
  function keyValues(values) {
    const keys = Object.keys(values).sort();
    if (!keys.length) return h("p", { class: "muted" }, "nothing");
    return h("table", { class: "kv" }, h("tbody", null, keys.map((k) => h("tr", null, h("th", { class: "mono" }, k), h("td", { class: "mono" }, typeof values[k] === "object" && values[k] !== null ? JSON.stringify(values[k]) : num(values[k]))))));
  }
  function files(runId, list) {
    if (!list.length) return h("p", { class: "muted" }, "No files saved.");
    const url = (f) => link("/api/sweeps/" + PAGE.sweep + "/runs/" + runId + "/files/" + f.name.split("/").map(encodeURIComponent).join("/"));
    const images = list.filter((f) => f.type === "image" && f.here && url(f));
    return h("div", null,
      images.length ? h("div", { class: "media" }, images.map((f) => h("figure", null, h("a", { href: url(f) }, h("img", { src: url(f), alt: f.name, loading: "lazy" })), h("figcaption", { class: "mono" }, f.name)))) : null,
      h("ul", { class: "files", id: "files" }, list.map((f) => h("li", { "data-file": f.name },
        f.here && url(f) ? h("a", { class: "mono", href: url(f) }, f.name) : h("span", { class: "mono" }, f.name), " ",
        h("span", { class: "muted" }, f.type + (f.size !== null ? ", " + num(f.size) + " bytes" : ", not on this machine"))))));
  }
  function renderRun(data) {
    const r = data.run, s = data.sweep;
    document.title = "run " + r.id + " · redsweep";
    crumbs([a("/", "sweeps"), a("/sweeps/" + s.id, s.name || s.id), "run " + r.id]);
    const facts = [
      ["sweep", s.name || s.id], [s.metric || "value", r.value === null ? "—" : num(r.value)],
      ["worker", r.worker || "—"], ["attempt", r.attempt], ["duration", seconds(r.duration_s) || "—"],
      ["created", when(r.created_ms)], ["started", when(r.started_ms) || "—"], ["finished", when(r.finished_ms) || "—"],
      ["rows logged", r.history_rows],
    ];
    const charts = h("div", { class: "charts" });
    main.replaceChildren(
      h("section", { class: "card head" },
        h("div", { class: "title" }, h("h1", null, "run " + r.id), badge(r.state), r.retry_of ? h("span", { class: "muted" }, "retry of " + r.retry_of) : null),
        h("div", { class: "facts" }, facts.map(([k, v]) => h("div", { class: "fact" }, h("span", { class: "k" }, k), h("span", { class: "v" }, v)))),
        r.error ? h("pre", { class: "error" }, r.error) : null,
        r.stop ? h("p", { class: "warn" }, r.stop) : null,
        r.warning ? h("p", { class: "warn" }, r.warning) : null),
      h("div", { class: "pair" }, card("Config", keyValues(r.config)), card("Summary", keyValues(r.summary))),
      card("Charts", charts, "wide"),
      h("div", { class: "pair" },
        card("Log tail", data.log_tail ? h("pre", { class: "log", id: "log" }, data.log_tail) : h("p", { class: "muted" }, "No output kept (a function's runs keep none; a command's is kept when it ends).")),
        card("Files", files(r.id, data.files))));
    if (!data.charts.length) charts.append(h("p", { class: "muted" }, "Nothing logged yet."));
    return plotlyReady().then(() => drawCharts(charts, data));
  }
  function drawCharts(charts, data) {
    for (const c of data.charts) {
      const div = h("div", { class: "chart", "data-metric": c.name });
      charts.append(div);
      Plotly.react(div, [{ type: "scatter", mode: c.x.length > 1 ? "lines" : "markers", x: c.x, y: c.y, line: { color: STATES.running } }],
        { title: { text: c.name, font: { size: 13 } }, margin: { l: 50, r: 10, t: 36, b: 30 }, height: 240,
          xaxis: { title: { text: "step" } }, paper_bgcolor: "rgba(0,0,0,0)" }, PLOT_CONFIG);
    }
  }

  // ---- loading and live updates -----------------------------------------------------------------
  const RENDER = { sweeps: renderSweeps, sweep: renderSweep, run: renderRun };
  function dataUrl() {
    if (PAGE.kind === "sweeps") return apiUrl("/api/sweeps");
    if (PAGE.kind === "sweep") return apiUrl("/api/sweeps/" + encodeURIComponent(PAGE.sweep));
    return apiUrl("/api/sweeps/" + encodeURIComponent(PAGE.sweep) + "/runs/" + encodeURIComponent(PAGE.run));
  }
  // how long each plot took to draw, in ms (benchmarks/dashboard.py reads it)
  const drawMs = (window.redsweepDrawMs = {});
  function timed(name, fn) {
    const start = performance.now();
    fn();
    drawMs[name] = Math.round(performance.now() - start);
  }
  // run fn after the browser has painted what is there (a frame, then a task)
  function later(fn) {
    return new Promise((resolve) => requestAnimationFrame(() => setTimeout(() => { fn(); resolve(); }, 0)));
  }
  let busy = false, again = false, shown = null, latest = null;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(dataUrl());
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      shown = body.mark;
      // data-shown: the page's text is there (header, importances, table; the plots follow),
      // data-loaded: everything is drawn (both in ms since the page's start, for benchmarks)
      const drawing = RENDER[PAGE.kind](body);
      document.body.setAttribute("data-shown", String(Math.round(performance.now())));
      await drawing;
      document.body.setAttribute("data-loaded", String(Math.round(performance.now())));
    } catch (e) {
      main.replaceChildren(card("Cannot show this page", h("p", { class: "bad" }, String(e.message || e))));
    } finally {
      busy = false;
      if (again || (latest !== null && latest !== shown)) { again = false; refresh(); }
    }
  }
  // The page loads at once; the event stream then sends the sweep's mark at once and again
  // whenever it changes, and the page loads again when the mark is not the one it shows.
  function live() {
    const badgeNode = document.getElementById("live");
    const params = PAGE.kind === "sweeps" ? {} : { sweep: PAGE.sweep };
    const source = new EventSource(apiUrl("/api/events", params));
    source.onmessage = (ev) => {
      badgeNode.textContent = "● live";
      badgeNode.className = "live on";
      latest = JSON.parse(ev.data);
      if (!busy && latest !== shown) refresh();
    };
    source.onerror = () => { badgeNode.textContent = "○ reconnecting"; badgeNode.className = "live off"; };
  }

  if (REPORT) {
    document.getElementById("live").textContent = "report";
    Promise.resolve(RENDER[PAGE.kind](PAGE.data)).then(() => document.body.setAttribute("data-loaded", "report"));
  } else {
    refresh();
    live();
  }
})();
