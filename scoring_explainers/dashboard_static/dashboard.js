// Explanation dashboard: plain JavaScript, SVG for bars and lines, canvas for point clouds.
// Reads /explanations (the store) and /score (the live model) from the page's own origin.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PAD = { left: 48, right: 12, top: 12, bottom: 28 };
  const COLOURS = 32; // colour buckets: one fillStyle per bucket on the canvases

  const state = {
    runs: [], records: [], run: null, record: null, exp: null, trueYs: null,
    classIndex: 0, k: 10, selected: null, whatIf: null, features: [], rows: 0,
    local: null, se: null, data: null, colour: null, colourLabel: "", global: null,
    schema: [], // per feature: null (numeric) or {categories, missing} (categorical)
  };
  const marks = {}; // view -> {xs, ys, rows}: screen positions of drawn points (hit tests)
  const timings = {};

  // -- HTTP ---------------------------------------------------------------------------------
  function headers(json) {
    const h = json ? { "Content-Type": "application/json" } : {};
    const key = sessionStorage.getItem("scoring-api-key");
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  async function api(path, body) {
    const init = body === undefined ? { headers: headers(false) }
      : { method: "POST", headers: headers(true), body: JSON.stringify(body) };
    const response = await fetch(path, init);
    if (response.status === 401) $("key-box").hidden = false;
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(payload.error || response.status + " " + response.statusText);
    return payload;
  }

  function status(text, isError) {
    $("status").textContent = text || "";
    $("status").className = isError ? "error" : "";
  }

  // -- colours and scales ---------------------------------------------------------------------
  function colourOf(t) { // t in [0, 1]: blue -> grey -> red
    const a = Math.max(0, Math.min(1, t));
    const r = Math.round(a < 0.5 ? 37 + a * 2 * 130 : 167 + (a - 0.5) * 2 * 53);
    const g = Math.round(a < 0.5 ? 99 + a * 2 * 60 : 159 - (a - 0.5) * 2 * 121);
    const b = Math.round(a < 0.5 ? 235 - a * 2 * 60 : 175 - (a - 0.5) * 2 * 137);
    return `rgb(${r},${g},${b})`;
  }
  const PALETTE = Array.from({ length: COLOURS }, (_, i) => colourOf(i / (COLOURS - 1)));

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v === null) continue; if (v < lo) lo = v; if (v > hi) hi = v; }
    if (!isFinite(lo)) return [0, 1];
    if (lo === hi) return [lo - 0.5, hi + 0.5];
    const pad = (hi - lo) * 0.04;
    return [lo - pad, hi + pad];
  }

  function scale(domain, range) {
    const [d0, d1] = domain, [r0, r1] = range;
    return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
  }

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : +v.toPrecision(4) + "";
  }

  // -- the explanation as arrays ----------------------------------------------------------------
  function prepare(envelope) {
    const exp = envelope.explanation;
    state.exp = exp;
    state.trueYs = envelope.true_ys;
    state.features = exp.features;
    const classification = exp.model_task === "classification";
    const local = exp.local_importance_values;
    state.local = local ? (classification ? local[state.classIndex] : local) : null;
    const se = exp.standard_errors; // same layout as the local values, when uploaded
    state.se = se && state.local ? (classification ? se[state.classIndex] : se) : null;
    state.data = exp.eval_data;
    state.schema = featureSchema(exp);
    state.rows = state.local ? state.local.length : state.data ? state.data.length : 0;
    state.global = globalValues(exp);
    const proba = exp.eval_y_predicted_proba;
    const predicted = exp.eval_y_predicted;
    if (proba) {
      state.colour = proba.map((p) => p[state.classIndex]);
      state.colourLabel = "P(" + exp.classes[state.classIndex] + ")";
    } else if (predicted && predicted.every((v) => typeof v === "number")) {
      state.colour = predicted;
      state.colourLabel = "prediction";
    } else if (predicted) {
      const labels = [...new Set(predicted.map(String))];
      state.colour = predicted.map((v) => labels.indexOf(String(v)));
      state.colourLabel = "predicted class";
    } else {
      state.colour = null;
      state.colourLabel = "";
    }
  }

  // -- categorical features ------------------------------------------------------------------
  // From the explanation's raw schema (metadata.raw_schema) when it has one; else a feature
  // whose values include strings or booleans is categorical, its categories the values seen.
  function featureSchema(exp) {
    const raw = exp.metadata && Array.isArray(exp.metadata.raw_schema) ? exp.metadata.raw_schema : null;
    return exp.features.map((name, f) => {
      const column = raw ? raw.find((c) => c.name === name) : null;
      if (column) {
        return column.kind === "categorical"
          ? { categories: column.categories.slice(), missing: !!column.missing } : null;
      }
      if (!exp.eval_data) return null;
      const seen = new Set();
      let text = false, missing = false;
      for (const row of exp.eval_data) {
        const v = row[f];
        if (v === null) { missing = true; continue; }
        if (typeof v === "string" || typeof v === "boolean") text = true;
        seen.add(v);
      }
      if (!text) return null;
      const categories = [...seen].sort((a, b) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
      return { categories, missing };
    });
  }

  const MISSING_BAND = "(missing)", OTHER_BAND = "(other)";

  // The bands of a categorical feature over the explained rows: its categories, then
  // "(missing)" and "(other)" (an unknown value) when a row has one; and each row's band.
  function bandsOf(f) {
    const categories = state.schema[f].categories;
    const raw = state.data.map((r) => {
      const v = r[f];
      if (v === null) return -1;
      const i = categories.indexOf(v);
      return i < 0 ? -2 : i;
    });
    const labels = categories.map(String);
    const missing = raw.includes(-1) ? labels.push(MISSING_BAND) - 1 : -1;
    const other = raw.includes(-2) ? labels.push(OTHER_BAND) - 1 : -1;
    return { labels, index: raw.map((i) => (i === -1 ? missing : i === -2 ? other : i)) };
  }

  // A point's offset within its band: deterministic, spread over 60% of the band.
  function jitter(i) { return (((i * 2654435761) % 1000) / 1000 - 0.5) * 0.6; }

  // A feature's values as numbers: its value, or for a categorical feature its band.
  function featureNumbers(f) {
    return state.schema[f] ? bandsOf(f).index : state.data.map((r) => r[f]);
  }

  function globalValues(exp) {
    if (exp.global_importance_values) return exp.global_importance_values;
    const local = exp.local_importance_values;
    if (!local) return null;
    const perClass = exp.model_task === "classification" ? local : [local];
    const out = new Array(exp.features.length).fill(0);
    for (const rows of perClass) {
      for (const row of rows) for (let f = 0; f < row.length; f++) out[f] += Math.abs(row[f]);
    }
    const n = perClass.length * perClass[0].length;
    return out.map((v) => v / n);
  }

  function ranked(values, k, byMagnitude) {
    const order = values.map((_, i) => i);
    const key = byMagnitude ? (i) => Math.abs(values[i]) : (i) => values[i];
    order.sort((a, b) => key(b) - key(a) || a - b); // stable ties: lower index first
    return order.slice(0, k);
  }

  function colourValues() {
    if (!state.colour) return null;
    const [lo, hi] = extent(state.colour);
    return state.colour.map((v) => Math.round(((v - lo) / (hi - lo)) * (COLOURS - 1)));
  }

  // -- drawing ----------------------------------------------------------------------------------
  function svgEl(name, attrs, parent, text) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    if (parent) parent.appendChild(el);
    return el;
  }

  function clear(svg) { while (svg.firstChild) svg.removeChild(svg.firstChild); }

  function message(svg, text) {
    clear(svg);
    svgEl("text", { x: 12, y: 24, class: "message" }, svg, text);
    svg.dataset.marks = "0";
  }

  // A canvas that has nothing to draw says why (and holds no clickable marks).
  function canvasMessage(view, canvas, text) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#666";
    ctx.font = "13px sans-serif";
    ctx.fillText(text, 12, 24);
    canvas.dataset.marks = "0";
    canvas.dataset.message = text;
    delete marks[view];
  }

  function minMax(values) { // no spread: Math.min(...a) overflows the stack on large arrays
    let lo = Infinity, hi = -Infinity; // a missing value (null) is no bound
    for (const v of values) { if (v === null) continue; if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }

  const NO_LOCAL = "No local importances in this explanation (global only).";
  const NO_DATA = "This explanation carries no evaluation data.";

  // Horizontal bars: names, values; signed bars are red (positive) or blue (negative).
  // ``errors`` (standard errors, one per value) adds an error bar to each: a thick line
  // over value ± 1 se and a thin one, with end caps, over value ± 2 se.
  function bars(svg, names, values, { signed, view, errors }) {
    clear(svg);
    const width = +svg.getAttribute("width"), height = +svg.getAttribute("height");
    const labelWidth = 150, n = values.length;
    const row = Math.min(26, (height - 8) / Math.max(n, 1));
    const ends = errors ? values.flatMap((v, i) => [v - 2 * errors[i], v + 2 * errors[i]]) : [];
    const lo = signed ? Math.min(0, ...values, ...ends) : 0, hi = Math.max(0, ...values, ...ends);
    const x = scale([lo, hi === lo ? lo + 1 : hi], [labelWidth, width - 60]);
    svgEl("line", { x1: x(0), x2: x(0), y1: 0, y2: n * row, class: "axis" }, svg);
    values.forEach((v, i) => {
      const y = 4 + i * row;
      const g = svgEl("g", { class: "mark", "data-view": view, "data-feature": names[i],
        "data-value": String(v) }, svg);
      const label = svgEl("text", { x: labelWidth - 6, y: y + row * 0.6, "text-anchor": "end" }, g,
        names[i].length > 22 ? names[i].slice(0, 21) + "…" : names[i]);
      svgEl("title", {}, label, names[i]);
      const x0 = Math.min(x(0), x(v)), w = Math.max(1, Math.abs(x(v) - x(0)));
      svgEl("rect", { x: x0, y, width: w, height: row * 0.75,
        class: signed ? (v >= 0 ? "bar-pos" : "bar-neg") : "bar" }, g);
      let right = Math.max(x(0), x(v));
      if (errors) {
        const se = errors[i], mid = y + row * 0.375, cap = row * 0.25;
        const bar = svgEl("g", { class: "error-bar", "data-se": String(se) }, g);
        svgEl("title", {}, bar, `${names[i]}: ${fmt(v)} ± ${fmt(se)} (1 se); ± ${fmt(2 * se)} (2 se)`);
        svgEl("line", { class: "se2", x1: x(v - 2 * se), x2: x(v + 2 * se), y1: mid, y2: mid }, bar);
        for (const end of [v - 2 * se, v + 2 * se]) {
          svgEl("line", { class: "se2-cap", x1: x(end), x2: x(end), y1: mid - cap, y2: mid + cap }, bar);
        }
        svgEl("line", { class: "se1", x1: x(v - se), x2: x(v + se), y1: mid, y2: mid }, bar);
        right = Math.max(right, x(v + 2 * se));
      }
      svgEl("text", { x: right + 4, y: y + row * 0.6, class: "value" }, g, fmt(v));
    });
    svg.dataset.marks = String(n);
    svg.dataset.errorBars = errors ? String(n) : "0";
  }

  // Points on a canvas, one colour bucket at a time; positions kept for clicks.
  // ``bands``: [x labels, y labels], each null for a numeric axis; a banded axis has one
  // band per label and its values are band indices (points jittered within the band).
  function scatter(view, canvas, xs, ys, colours, labels, bands) {
    const ctx = canvas.getContext("2d");
    const width = canvas.width, height = canvas.height;
    ctx.clearRect(0, 0, width, height);
    delete canvas.dataset.message;
    const [xBands, yBands] = bands || [null, null];
    const xd = xBands ? [-0.5, xBands.length - 0.5] : extent(xs);
    const yd = yBands ? [-0.5, yBands.length - 0.5] : extent(ys);
    const sx = scale(xd, [PAD.left, width - PAD.right]);
    const sy = scale(yd, [height - PAD.bottom, PAD.top]);
    drawBands(ctx, width, height, xBands, sx, yBands, sy);
    axes(ctx, width, height, xd, yd, labels, xBands, yBands);
    canvas.dataset.xBands = xBands ? JSON.stringify(xBands) : "";
    canvas.dataset.yBands = yBands ? JSON.stringify(yBands) : "";
    const n = xs.length, px = new Float32Array(n), py = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      px[i] = sx(xBands ? xs[i] + jitter(i) : xs[i]);
      py[i] = sy(yBands ? ys[i] + jitter(i + 7) : ys[i]);
    }
    drawBuckets(ctx, px, py, colours, 3);
    marks[view] = { xs: px, ys: py, canvas };
    canvas.dataset.marks = String(n);
    highlight(view);
  }

  function drawBuckets(ctx, px, py, colours, size) {
    const half = size / 2;
    ctx.globalAlpha = 0.75;
    if (!colours) {
      ctx.fillStyle = "#4f46e5";
      for (let i = 0; i < px.length; i++) ctx.fillRect(px[i] - half, py[i] - half, size, size);
    } else {
      for (let b = 0; b < COLOURS; b++) {
        ctx.fillStyle = PALETTE[b];
        for (let i = 0; i < px.length; i++) {
          if (colours[i] === b) ctx.fillRect(px[i] - half, py[i] - half, size, size);
        }
      }
    }
    ctx.globalAlpha = 1;
  }

  // Alternate shading behind the bands of a categorical axis.
  function drawBands(ctx, width, height, xBands, sx, yBands, sy) {
    ctx.fillStyle = "#f1f1f4";
    if (xBands) {
      xBands.forEach((_, i) => {
        if (i % 2) ctx.fillRect(sx(i - 0.5), PAD.top, sx(i + 0.5) - sx(i - 0.5), height - PAD.bottom - PAD.top);
      });
    }
    if (yBands) {
      yBands.forEach((_, i) => {
        if (i % 2) ctx.fillRect(PAD.left, sy(i + 0.5), width - PAD.right - PAD.left, sy(i - 0.5) - sy(i + 0.5));
      });
    }
  }

  function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

  function axes(ctx, width, height, xd, yd, labels, xBands, yBands) {
    ctx.strokeStyle = "#999";
    ctx.beginPath();
    ctx.moveTo(PAD.left, PAD.top);
    ctx.lineTo(PAD.left, height - PAD.bottom);
    ctx.lineTo(width - PAD.right, height - PAD.bottom);
    ctx.stroke();
    ctx.fillStyle = "#333";
    ctx.font = "11px sans-serif";
    if (xBands) { // a label under each band, the axis name above the plot
      const sx = scale(xd, [PAD.left, width - PAD.right]);
      const room = Math.max(3, Math.floor((width - PAD.left - PAD.right) / xBands.length / 6));
      ctx.textAlign = "center";
      xBands.forEach((b, i) => ctx.fillText(short(b, room), sx(i), height - PAD.bottom + 12));
      ctx.textAlign = "start";
      ctx.fillText(labels[0], width / 2 - 40, height - 2);
    } else {
      ctx.fillText(fmt(xd[0]), PAD.left, height - 10);
      ctx.fillText(fmt(xd[1]), width - PAD.right - 50, height - 10);
      ctx.fillText(labels[0], width / 2 - 40, height - 10);
    }
    if (yBands) {
      const sy = scale(yd, [height - PAD.bottom, PAD.top]);
      yBands.forEach((b, i) => ctx.fillText(short(b, 7), 2, sy(i) + 4));
    } else {
      ctx.fillText(fmt(yd[1]), 2, PAD.top + 8);
      ctx.fillText(fmt(yd[0]), 2, height - PAD.bottom);
    }
    ctx.save();
    ctx.translate(12, height / 2 + 30);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(labels[1], 0, 0);
    ctx.restore();
  }

  function highlight(view) {
    const m = marks[view];
    if (!m || state.selected === null || state.selected >= m.xs.length) return;
    const ctx = m.canvas.getContext("2d");
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(m.xs[state.selected], m.ys[state.selected], 6, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  // -- global views -------------------------------------------------------------------------------
  function axisChoices() {
    const choices = [];
    if (state.exp.eval_y_predicted_proba) choices.push(["proba", state.colourLabel]);
    if (state.exp.eval_y_predicted) choices.push(["predicted", "Prediction"]);
    if (state.trueYs) choices.push(["true", "True label"]);
    choices.push(["row", "Row"]);
    if (state.data) state.features.forEach((f, i) => choices.push(["f" + i, f]));
    return choices;
  }

  function axisValues(key) {
    const n = state.rows;
    if (key === "row") return Array.from({ length: n }, (_, i) => i);
    if (key === "proba") return state.exp.eval_y_predicted_proba.map((p) => p[state.classIndex]);
    const labels = key === "true" ? state.trueYs : key === "predicted" ? state.exp.eval_y_predicted : null;
    if (labels) {
      if (labels.every((v) => typeof v === "number")) return labels;
      const names = [...new Set(labels.map(String))];
      return labels.map((v) => names.indexOf(String(v)));
    }
    return featureNumbers(+key.slice(1));
  }

  function axisBands(key) { // the band labels of a categorical feature's axis, or null
    if (!key.startsWith("f")) return null;
    const f = +key.slice(1);
    return state.schema[f] ? bandsOf(f).labels : null;
  }

  function fillSelect(select, options, value) {
    select.innerHTML = "";
    for (const [v, label] of options) select.add(new Option(label, v));
    if (value !== undefined && options.some(([v]) => v === value)) select.value = value;
  }

  function drawData() {
    const canvas = $("data-canvas");
    if (!state.rows) {
      canvasMessage("data", canvas, NO_DATA);
      $("data-legend").textContent = "";
      return;
    }
    // Without evaluation data the rows are still drawn (by row, prediction, label), so
    // that any row can be clicked for its local importance.
    const x = $("data-x").value, y = $("data-y").value;
    const label = (k) => $("data-x").querySelector(`option[value="${k}"]`).textContent;
    scatter("data", canvas, axisValues(x), axisValues(y), colourValues(), [label(x), label(y)],
      [axisBands(x), axisBands(y)]);
    const notes = [];
    if (!state.data) notes.push(NO_DATA);
    if (state.colour) notes.push("colour: " + state.colourLabel);
    $("data-legend").textContent = notes.join(" ");
  }

  function drawGlobal() {
    if (!state.global) return message($("global-svg"), "No importances in this explanation.");
    const order = ranked(state.global, state.k, false);
    bars($("global-svg"), order.map((i) => state.features[i]), order.map((i) => state.global[i]),
      { signed: false, view: "global" });
  }

  function drawExplore() {
    const canvas = $("explore-canvas");
    if (!state.local) return canvasMessage("explore", canvas, NO_LOCAL);
    if (!state.data) return canvasMessage("explore", canvas, NO_DATA);
    const f = +$("explore-feature").value;
    const bands = state.schema[f] ? bandsOf(f) : null; // categories: one band each
    scatter("explore", canvas, bands ? bands.index : state.data.map((r) => r[f]),
      state.local.map((r) => r[f]), colourValues(),
      [state.features[f] + (bands ? "" : " value"), "importance"], [bands && bands.labels, null]);
  }

  function drawSummary() {
    const canvas = $("summary-canvas");
    const ctx = canvas.getContext("2d");
    if (!state.local) return canvasMessage("summary", canvas, NO_LOCAL);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    delete canvas.dataset.message;
    const order = ranked(state.global, state.k, false);
    const width = canvas.width, height = canvas.height, left = 150;
    let lo = Infinity, hi = -Infinity;
    for (const f of order) for (const r of state.local) { lo = Math.min(lo, r[f]); hi = Math.max(hi, r[f]); }
    const x = scale(extent([lo, hi]), [left, width - PAD.right]);
    const band = (height - PAD.bottom) / order.length;
    ctx.strokeStyle = "#999";
    ctx.beginPath(); ctx.moveTo(x(0), 0); ctx.lineTo(x(0), height - PAD.bottom); ctx.stroke();
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
    ctx.fillText(fmt(lo), left, height - 8);
    ctx.fillText(fmt(hi), width - 60, height - 8);
    let drawn = 0;
    order.forEach((f, j) => {
      ctx.fillStyle = "#333";
      ctx.fillText(state.features[f].slice(0, 22), 2, j * band + band / 2 + 4);
      const values = state.data ? featureNumbers(f) : null;
      const [vlo, vhi] = values ? extent(values) : [0, 1];
      const px = new Float32Array(state.rows), py = new Float32Array(state.rows);
      const colours = values ? new Array(state.rows) : null;
      for (let i = 0; i < state.rows; i++) {
        px[i] = x(state.local[i][f]);
        py[i] = j * band + band / 2 + (((i * 2654435761) % 1000) / 1000 - 0.5) * band * 0.7;
        if (colours) colours[i] = Math.round(((values[i] - vlo) / (vhi - vlo)) * (COLOURS - 1));
      }
      drawBuckets(ctx, px, py, colours, 2);
      drawn += state.rows;
    });
    canvas.dataset.marks = String(drawn);
  }

  function drawGlobalViews() {
    drawData();
    drawGlobal();
    drawExplore();
    drawSummary();
  }

  // -- local views --------------------------------------------------------------------------------
  function predictionText(row) {
    const exp = state.exp;
    const parts = [];
    if (exp.eval_y_predicted) parts.push("prediction " + exp.eval_y_predicted[row]);
    if (exp.eval_y_predicted_proba) parts.push(state.colourLabel + " " + fmt(exp.eval_y_predicted_proba[row][state.classIndex]));
    if (state.trueYs) parts.push("true " + state.trueYs[row]);
    return parts.join(", ");
  }

  function select(row) {
    state.selected = row;
    state.whatIf = state.data ? state.data[row].slice() : null;
    $("local-title").textContent = `Row ${row}` + (predictionText(row) ? ": " + predictionText(row) : "");
    $("local-title").dataset.row = String(row);
    drawLocal();
    drawWhatIfInputs();
    drawGlobalViews();
    scoreWhatIf();
    drawIce();
  }

  function drawLocal() {
    if (state.selected === null) return;
    if (!state.local) return message($("local-svg"), NO_LOCAL);
    const values = state.local[state.selected];
    const order = ranked(values, state.k, true);
    const se = state.se ? state.se[state.selected] : null;
    bars($("local-svg"), order.map((i) => state.features[i]), order.map((i) => values[i]),
      { signed: true, view: "local", errors: se ? order.map((i) => se[i]) : null });
    $("local-legend").textContent = se
      ? "Error bars: the value ± 1 standard error (thick), ± 2 standard errors (thin, capped)." : "";
  }

  function drawWhatIfInputs() {
    const box = $("whatif-inputs");
    box.innerHTML = "";
    if (!state.whatIf) { box.textContent = NO_DATA; return; }
    state.features.forEach((name, f) => {
      const label = document.createElement("label");
      label.textContent = name;
      if (state.schema[f]) {
        label.appendChild(categorySelect(name, f));
        box.appendChild(label);
        return;
      }
      const input = document.createElement("input");
      input.type = "number";
      input.step = "any";
      input.value = String(state.whatIf[f]);
      input.dataset.feature = name;
      input.addEventListener("change", () => {
        const v = parseFloat(input.value);
        if (!Number.isFinite(v)) return;
        state.whatIf[f] = v;
        scoreWhatIf();
        drawIce();
      });
      label.appendChild(input);
      box.appendChild(label);
    });
  }

  // A categorical feature's what-if input: its known categories, "(missing)" when the
  // feature takes missing values, and the row's own value when it is none of those.
  function categorySelect(name, f) {
    const cat = state.schema[f];
    const options = cat.categories.map((c) => [c, String(c)]);
    if (cat.missing) options.push([null, MISSING_BAND]);
    const current = state.whatIf[f];
    if (!options.some(([v]) => v === current)) {
      options.push([current, current === null ? MISSING_BAND : String(current) + " " + OTHER_BAND]);
    }
    const select = document.createElement("select");
    select.dataset.feature = name;
    options.forEach(([, text], i) => select.add(new Option(text, String(i))));
    select.value = String(options.findIndex(([v]) => v === current));
    select.addEventListener("change", () => {
      state.whatIf[f] = options[+select.value][0];
      scoreWhatIf();
      drawIce();
    });
    return select;
  }

  function record(row) {
    const out = {};
    state.features.forEach((f, i) => { out[f] = row[i]; });
    return out;
  }

  let whatIfCall = 0;
  async function scoreWhatIf() {
    const shown = $("whatif-prediction");
    if (!state.whatIf) return;
    const call = ++whatIfCall;
    shown.textContent = "scoring…";
    shown.className = "prediction";
    delete shown.dataset.prediction;
    try {
      const result = await api("score", [record(state.whatIf)]);
      if (call !== whatIfCall) return;
      const prediction = result.predictions[0];
      let text = "prediction " + prediction;
      shown.dataset.prediction = String(prediction);
      if (result.probabilities) {
        const p = result.probabilities[0][state.classIndex];
        text += `, P(${result.classes[state.classIndex]}) ${fmt(p)}`;
        shown.dataset.probability = String(p);
      }
      shown.textContent = text;
      const local = result.local_importance_values;
      if (local) {
        const values = state.exp.model_task === "classification" ? local[state.classIndex][0] : local[0];
        const order = ranked(values, state.k, true);
        bars($("whatif-svg"), order.map((i) => result.features[i]), order.map((i) => values[i]),
          { signed: true, view: "whatif" });
      } else {
        message($("whatif-svg"), "The model gives predictions only (no importances).");
      }
    } catch (err) {
      if (call !== whatIfCall) return;
      shown.textContent = "what-if: " + err.message;
      shown.className = "prediction error";
    }
  }

  let iceCall = 0;
  async function drawIce() {
    const svg = $("ice-svg");
    if (!state.whatIf) return message(svg, "Select a point (needs evaluation data).");
    const f = +$("ice-feature").value;
    const cat = state.schema[f]; // categorical: one row per category
    const steps = Math.max(2, Math.min(200, +$("ice-steps").value || 20));
    $("ice-steps").disabled = !!cat;
    let grid;
    if (cat) {
      grid = cat.categories.slice();
    } else {
      const [lo, hi] = minMax(state.data.map((r) => r[f]));
      grid = Array.from({ length: steps }, (_, i) => lo + ((hi - lo) * i) / (steps - 1));
    }
    const rows = grid.map((v) => { const r = state.whatIf.slice(); r[f] = v; return record(r); });
    const call = ++iceCall;
    try {
      const result = await api("score", rows);
      if (call !== iceCall) return;
      const ys = result.probabilities ? result.probabilities.map((p) => p[state.classIndex])
        : result.predictions.map(Number);
      const yLabel = result.probabilities ? "P(" + result.classes[state.classIndex] + ")" : "prediction";
      if (cat) iceBands(svg, grid.map(String), ys, state.features[f], yLabel);
      else iceLine(svg, grid, ys, state.features[f], yLabel);
    } catch (err) {
      if (call !== iceCall) return;
      message(svg, "ICE: " + err.message);
    }
  }

  function iceLine(svg, xs, ys, xLabel, yLabel) {
    clear(svg);
    const width = +svg.getAttribute("width"), height = +svg.getAttribute("height");
    const x = scale(extent(xs), [PAD.left, width - PAD.right]);
    const y = scale(extent(ys), [height - PAD.bottom, PAD.top]);
    svgEl("path", { d: `M${PAD.left},${PAD.top}V${height - PAD.bottom}H${width - PAD.right}`, class: "axis", fill: "none" }, svg);
    svgEl("polyline", { class: "ice-line", points: xs.map((v, i) => `${x(v)},${y(ys[i])}`).join(" ") }, svg);
    xs.forEach((v, i) => svgEl("circle", { class: "ice-point", cx: x(v), cy: y(ys[i]), r: 3,
      "data-x": String(v), "data-y": String(ys[i]) }, svg));
    svgEl("text", { x: width / 2 - 40, y: height - 6 }, svg, xLabel);
    const [yLo, yHi] = minMax(ys);
    svgEl("text", { x: 2, y: PAD.top - 2 }, svg, yLabel + " " + fmt(yLo) + " – " + fmt(yHi));
    svg.dataset.marks = String(xs.length);
    delete svg.dataset.bands;
  }

  // ICE over a categorical feature: one point per category, on a band scale.
  function iceBands(svg, labels, ys, xLabel, yLabel) {
    clear(svg);
    const width = +svg.getAttribute("width"), height = +svg.getAttribute("height");
    const x = scale([-0.5, labels.length - 0.5], [PAD.left, width - PAD.right]);
    const y = scale(extent(ys), [height - PAD.bottom, PAD.top]);
    svgEl("path", { d: `M${PAD.left},${PAD.top}V${height - PAD.bottom}H${width - PAD.right}`, class: "axis", fill: "none" }, svg);
    const room = Math.max(3, Math.floor((width - PAD.left - PAD.right) / labels.length / 6));
    labels.forEach((label, i) => {
      svgEl("line", { x1: x(i), x2: x(i), y1: y(ys[i]), y2: height - PAD.bottom, class: "ice-stem" }, svg);
      svgEl("circle", { class: "ice-point", cx: x(i), cy: y(ys[i]), r: 4,
        "data-x": label, "data-y": String(ys[i]) }, svg);
      const text = svgEl("text", { x: x(i), y: height - PAD.bottom + 12, "text-anchor": "middle", class: "band" }, svg, short(label, room));
      svgEl("title", {}, text, label);
    });
    svgEl("text", { x: width / 2 - 40, y: height - 2 }, svg, xLabel);
    const [yLo, yHi] = minMax(ys);
    svgEl("text", { x: 2, y: PAD.top - 2 }, svg, yLabel + " " + fmt(yLo) + " – " + fmt(yHi));
    svg.dataset.marks = String(labels.length);
    svg.dataset.bands = JSON.stringify(labels);
  }

  // -- clicks on point clouds -----------------------------------------------------------------------
  function nearest(view, event) {
    const m = marks[view];
    if (!m) return null;
    const rect = m.canvas.getBoundingClientRect();
    const cx = ((event.clientX - rect.left) * m.canvas.width) / rect.width;
    const cy = ((event.clientY - rect.top) * m.canvas.height) / rect.height;
    let best = null, bestD = 64; // within 8 canvas pixels
    for (let i = 0; i < m.xs.length; i++) {
      const d = (m.xs[i] - cx) ** 2 + (m.ys[i] - cy) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  function markPosition(view, row) { // page coordinates of a drawn point (for tests)
    const m = marks[view];
    const rect = m.canvas.getBoundingClientRect();
    return { x: rect.left + (m.xs[row] * rect.width) / m.canvas.width,
      y: rect.top + (m.ys[row] * rect.height) / m.canvas.height };
  }

  // -- loading ---------------------------------------------------------------------------------------
  async function loadRuns() {
    state.runs = await api("explanations");
    const params = new URLSearchParams(location.search);
    const wanted = params.get("run");
    const runs = state.runs.map((r) => r.run_id);
    if (wanted && !runs.includes(wanted)) runs.push(wanted);
    fillSelect($("run"), runs.map((r) => [r, r]));
    if (!runs.length) { status("No explanations stored yet."); return; }
    $("run").value = wanted || runs[runs.length - 1]; // the run with the latest upload
    await loadRun(params.get("explanation"));
  }

  async function loadRun(explanationId) {
    state.run = $("run").value;
    state.records = await api("explanations/" + encodeURIComponent(state.run));
    const options = state.records.map((r) => [r.id, `${r.upload_time.slice(0, 19)} ${r.method}` + (r.comment ? ` (${r.comment})` : "")]);
    fillSelect($("explanation"), options);
    if (!state.records.length) { status(`Run ${state.run} has no explanations.`, true); return; }
    const latest = state.records[state.records.length - 1].id;
    $("explanation").value = explanationId && state.records.some((r) => r.id === explanationId) ? explanationId : latest;
    await loadExplanation();
  }

  async function loadExplanation() {
    const t0 = performance.now();
    status("loading…");
    const id = $("explanation").value;
    const envelope = await api(`explanations/${encodeURIComponent(state.run)}/${encodeURIComponent(id)}`);
    timings.download = performance.now() - t0;
    const t1 = performance.now();
    state.record = envelope.record;
    const exp = envelope.explanation;
    const classes = exp.classes || [];
    $("class-box").hidden = exp.model_task !== "classification";
    fillSelect($("class"), classes.map((c, i) => [String(i), String(c)]));
    state.classIndex = classes.length > 1 ? classes.length - 1 : 0;
    $("class").value = String(state.classIndex);
    prepare(envelope);
    const nF = state.features.length;
    $("top-k").max = String(nF);
    state.k = Math.min(nF, Math.max(1, +$("top-k").value || 10));
    $("top-k").value = String(state.k);
    const choices = axisChoices();
    const first = choices.find(([k]) => k.startsWith("f"));
    fillSelect($("data-x"), choices, first ? first[0] : "row");
    fillSelect($("data-y"), choices, choices[0][0]);
    const byRank = state.global ? ranked(state.global, nF, false) : state.features.map((_, i) => i);
    const featureOptions = byRank.map((i) => [String(i), state.features[i]]);
    fillSelect($("explore-feature"), featureOptions);
    fillSelect($("ice-feature"), featureOptions);
    state.selected = null;
    drawGlobalViews();
    $("local-title").textContent = state.rows ? "" : "This explanation has no rows to select.";
    clear($("local-svg"));
    $("local-legend").textContent = "";
    if (state.rows) select(0);
    else if (!state.local) message($("local-svg"), NO_LOCAL);
    timings.render = performance.now() - t1;
    timings.firstRender = performance.now(); // since navigation start
    document.body.dataset.explanation = id;
    status("");
  }

  function wire() {
    $("run").addEventListener("change", () => loadRun().catch(fail));
    $("explanation").addEventListener("change", () => loadExplanation().catch(fail));
    $("class").addEventListener("change", () => {
      state.classIndex = +$("class").value;
      prepare({ explanation: state.exp, true_ys: state.trueYs });
      drawGlobalViews();
      if (state.selected !== null) select(state.selected);
    });
    $("top-k").addEventListener("change", () => {
      state.k = Math.min(state.features.length, Math.max(1, +$("top-k").value || 1));
      $("top-k").value = String(state.k);
      drawGlobal();
      drawSummary();
      drawLocal();
      scoreWhatIf();
    });
    $("data-x").addEventListener("change", drawData);
    $("data-y").addEventListener("change", drawData);
    $("explore-feature").addEventListener("change", drawExplore);
    $("ice-feature").addEventListener("change", drawIce);
    $("ice-steps").addEventListener("change", drawIce);
    for (const view of ["data", "explore"]) {
      $(view + "-canvas").addEventListener("click", (event) => {
        const row = nearest(view, event);
        if (row !== null) select(row);
      });
    }
    $("key-apply").addEventListener("click", () => {
      sessionStorage.setItem("scoring-api-key", $("api-key").value.trim());
      $("key-box").hidden = true;
      loadRuns().then(ready).catch(fail);
    });
  }

  function fail(err) { status(err.message, true); }
  function ready() { document.body.dataset.ready = "true"; }

  function markPositions(view) { // canvas x of every drawn point (for tests)
    return marks[view] ? Array.from(marks[view].xs) : [];
  }

  window.dashboard = { state, timings, markPosition, markPositions, select };
  wire();
  loadRuns().then(ready).catch(fail);
})();
