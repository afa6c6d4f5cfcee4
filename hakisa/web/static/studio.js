// hakisa studio: draw regions, tune extractors, teach digits, try the rules and save the profile.
// The page holds the profile's [rules] as plain data (`rules`, the shape the TOML has) and asks the
// server to read them on a screenshot after every change.
"use strict";

const KINDS = ["color", "count", "bar", "digits", "image", "stuck"];
const PALETTE = ["#ffc800", "#00dcff", "#ff5ac8", "#78ff78", "#ff8c3c", "#b48cff"];
const $ = (id) => document.getElementById(id);

const S = {
  rules: {}, shots: [], live: false, shot: "0", teach: {}, glyphs: {}, boxes: {}, values: {},
  image: new Image(), drag: null, pickInto: null, busy: 0, last: null,
};
window.studio = S; // for people poking at the console, and for the browser test

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const out = await res.json();
  if (!res.ok || out.error) throw new Error(out.error || res.statusText);
  return out;
}

function status(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.title = text; // the header keeps one line (the picture must not move under a drag); hover for all of it
  s.className = error ? "error" : "";
}

// ----- pictures ---------------------------------------------------------------------------------

function fillShots() {
  const sel = $("shot-select");
  sel.innerHTML = "";
  if (S.live) sel.append(el("option", {value: "live", text: "the live window"}));
  for (const s of S.shots) sel.append(el("option", {value: String(s.id), text: `${s.name} (${s.width}x${s.height})`}));
  sel.value = S.shot;
}

function loadShot(key) {
  S.shot = key;
  $("shot-select").value = key;
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => { S.image = img; draw(); resolve(); };
    img.onerror = () => { status(`cannot show picture ${key}`, true); resolve(); };
    img.src = `/shot/${key}.png?t=${Date.now()}`;
  });
}

function draw() {
  const c = $("canvas"), img = S.image;
  if (!img.width) return;
  c.width = img.width; c.height = img.height;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  g.font = "12px system-ui"; g.lineWidth = 1;
  const placed = []; // label boxes drawn so far: a label that would cover one moves below it
  Object.keys(S.rules.regions || {}).forEach((name, i) => {
    const [x, y, w, h] = S.rules.regions[name];
    const col = PALETTE[i % PALETTE.length];
    g.strokeStyle = col;
    g.strokeRect(x * img.width + 0.5, y * img.height + 0.5, w * img.width - 1, h * img.height - 1);
    const reads = Object.entries(S.rules.extractors || {}).filter(([, e]) => e.region === name)
      .map(([n]) => `${n}=${fmt(S.values[n])}`);
    const label = name + (reads.length ? ": " + reads.join(" ") : "");
    const lw = g.measureText(label).width + 4;
    const lx = Math.max(0, Math.min(x * img.width, img.width - lw));
    let ty = y * img.height < 14 ? (y + h) * img.height + 13 : y * img.height - 3;
    for (let k = 0; k < placed.length; k++) {
      const p = placed[k];
      if (lx < p.x + p.w && p.x < lx + lw && ty - 11 < p.y + 3 && p.y - 11 < ty + 3) { ty = p.y + 15; k = -1; }
    }
    placed.push({x: lx, y: ty, w: lw});
    g.fillStyle = "rgba(0,0,0,0.7)";
    g.fillRect(lx, ty - 11, lw, 14);
    g.fillStyle = col;
    g.fillText(label, lx + 2, ty);
  });
  if (S.drag && S.drag.moved) {
    const d = S.drag;
    g.strokeStyle = "#fff"; g.setLineDash([4, 3]);
    g.strokeRect(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0));
    g.setLineDash([]);
  }
}

function imagePoint(ev) {
  const c = $("canvas"), r = c.getBoundingClientRect();
  return [Math.max(0, Math.min(c.width, (ev.clientX - r.left) * c.width / r.width)),
          Math.max(0, Math.min(c.height, (ev.clientY - r.top) * c.height / r.height))];
}

function setupCanvas() {
  const c = $("canvas");
  c.addEventListener("mousedown", (ev) => {
    const [x, y] = imagePoint(ev);
    S.drag = {x0: x, y0: y, x1: x, y1: y, moved: false};
    ev.preventDefault();
  });
  c.addEventListener("mousemove", (ev) => {
    const [x, y] = imagePoint(ev);
    const px = pixelAt(x, y);
    if (px) $("pixel").textContent = `pixel ${Math.floor(x)},${Math.floor(y)}: colour ${px.join(", ")}`;
    if (!S.drag) return;
    S.drag.x1 = x; S.drag.y1 = y;
    S.drag.moved = Math.abs(x - S.drag.x0) + Math.abs(y - S.drag.y0) > 3;
    draw();
  });
  window.addEventListener("mouseup", (ev) => {
    const d = S.drag;
    if (!d) return;
    S.drag = null;
    if (!d.moved) {
      if (S.pickInto) {
        const px = pixelAt(d.x0, d.y0);
        if (px) { S.pickInto.value = px.join(", "); S.pickInto.dispatchEvent(new Event("change")); }
      }
      draw();
      return;
    }
    const W = $("canvas").width, H = $("canvas").height;
    const x0 = Math.min(d.x0, d.x1), y0 = Math.min(d.y0, d.y1);
    const box = [x0 / W, y0 / H, Math.abs(d.x1 - d.x0) / W, Math.abs(d.y1 - d.y0) / H].map((v) => round4(v));
    const name = ($("region-name").value.trim() || "region").replace(/[^A-Za-z0-9_-]/g, "_");
    S.rules.regions = S.rules.regions || {};
    S.rules.regions[name] = box;
    status(`region ${name} = [${box.join(", ")}]`);
    renderRegions(); renderExtractors(); changed();
  });
}

function pixelAt(x, y) {
  const c = $("canvas");
  if (!c.width || x >= c.width || y >= c.height) return null;
  const d = c.getContext("2d").getImageData(Math.floor(x), Math.floor(y), 1, 1).data;
  return [d[0], d[1], d[2]];
}

const round4 = (v) => Math.round(v * 10000) / 10000;
const fmt = (v) => (v === null || v === undefined) ? "unreadable" : (Number.isInteger(v) ? String(v) : v.toPrecision(4));

// ----- regions and extractors ---------------------------------------------------------------------

function renderRegions() {
  const body = $("regions").querySelector("tbody");
  body.innerHTML = "";
  for (const [name, box] of Object.entries(S.rules.regions || {})) {
    const cells = box.map((v, i) => el("td", {}, el("input", {type: "number", step: "0.001", min: "0", max: "1",
      value: String(v), onchange: (ev) => { box[i] = Number(ev.target.value); changed(); }})));
    body.append(el("tr", {"data-region": name}, el("td", {text: name}), ...cells, el("td", {},
      el("button", {text: "×", title: `remove region ${name}`, onclick: () => {
        delete S.rules.regions[name]; renderRegions(); renderExtractors(); changed(); }}))));
  }
}

function colourText(ex) {
  const cs = ex.color === undefined ? [] : (Array.isArray(ex.color[0]) ? ex.color : [ex.color]);
  return cs.map((c) => c.join(", ")).join("; ");
}

function parseColours(text) {
  const cs = text.split(";").map((s) => s.trim()).filter(Boolean).map((s) => s.split(/[ ,]+/).map(Number));
  if (!cs.length || cs.some((c) => c.length !== 3 || c.some((v) => !Number.isInteger(v) || v < 0 || v > 255)))
    throw new Error(`colour "${text}": write r, g, b (0-255), several separated by ";"`);
  return cs.length === 1 ? cs[0] : cs;
}

function field(label, input) { return el("label", {}, label + " ", input); }

function renderExtractors() {
  const box = $("extractors");
  box.innerHTML = "";
  const regions = Object.keys(S.rules.regions || {});
  for (const [name, ex] of Object.entries(S.rules.extractors || {})) {
    const kind = el("select", {onchange: (ev) => {
      ex.kind = ev.target.value;
      if (ex.kind === "digits" && !S.rules.score) { S.rules.score = name; renderRules(); } // the number shown
      renderExtractors(); changed(); }});
    KINDS.forEach((k) => kind.append(el("option", {value: k, text: k})));
    kind.value = ex.kind;
    const region = el("select", {onchange: (ev) => { ex.region = ev.target.value; changed(); }});
    regions.forEach((r) => region.append(el("option", {value: r, text: r})));
    if (!regions.includes(ex.region)) region.append(el("option", {value: ex.region || "", text: `${ex.region || "?"} (missing)`}));
    region.value = ex.region || "";
    const head = el("div", {class: "head"}, el("span", {class: "name", text: name}), kind, region,
      el("span", {class: "reading", id: `reading-${name}`, text: fmt(S.values[name])}),
      el("button", {text: "×", title: `remove extractor ${name}`, onclick: () => {
        removeExtractor(name); renderExtractors(); renderRules(); changed(); }}));
    const div = el("div", {class: "ex", "data-extractor": name}, head);
    if (["color", "count", "bar", "digits"].includes(ex.kind)) {
      const colour = el("input", {size: 18, value: colourText(ex), "data-field": "color",
        title: "click here, then on the picture, to pick a colour",
        onfocus: (ev) => { S.pickInto = ev.target; }, onchange: (ev) => {
          try { ex.color = parseColours(ev.target.value); changed(); } catch (e) { status(e.message, true); } }});
      const tol = el("input", {type: "number", min: 0, max: 255, value: ex.tolerance ?? 40, style: "width:56px",
        "data-field": "tolerance", onchange: (ev) => { ex.tolerance = Number(ev.target.value); changed(); }});
      const row = el("div", {class: "row"}, field("colour", colour), field("tolerance", tol));
      if (ex.kind === "count") row.append(field("min size", el("input", {type: "number", min: 1, style: "width:50px",
        value: ex.min_size ?? 4, onchange: (ev) => { ex.min_size = Number(ev.target.value); changed(); }})));
      if (ex.kind === "bar") {
        const axis = el("select", {onchange: (ev) => { ex.axis = ev.target.value; changed(); }},
          el("option", {text: "x"}), el("option", {text: "y"}));
        axis.value = ex.axis || "x";
        row.append(field("axis", axis));
      }
      div.append(row);
    } else if (ex.kind === "image") {
      div.append(el("div", {class: "row"}, field("template file", el("input", {size: 20, value: ex.image || "",
        onchange: (ev) => { ex.image = ev.target.value; changed(); }}))));
    } else if (ex.kind === "stuck") {
      div.append(el("div", {class: "row"}, field("grey levels", el("input", {type: "number", min: 0, max: 255,
        value: ex.tolerance ?? 30, onchange: (ev) => { ex.tolerance = Number(ev.target.value); changed(); }}))));
    }
    if (ex.kind === "digits") div.append(teachPanel(name, ex));
    box.append(div);
  }
}

function removeExtractor(name) {
  // rules that name it go with it (conditions in done and pause stay: the message says which to edit)
  const r = S.rules;
  delete r.extractors[name];
  if (r.reward) delete r.reward[name];
  if (r.score === name) delete r.score;
  if (r.rises) { r.rises = r.rises.filter((n) => n !== name); if (!r.rises.length) delete r.rises; }
}

function teachPanel(name, ex) {
  const labels = S.teach[name] = S.teach[name] || [];
  const value = el("input", {size: 10, placeholder: "number shown", "data-field": "teach-value"});
  const list = el("div", {class: "teach-list"});
  const glyphs = el("div", {class: "glyphs"});
  drawGlyphs(glyphs, ex.glyphs || {});
  const result = el("div", {class: "teach-result"});
  const showList = () => {
    list.innerHTML = "";
    labels.forEach((l, i) => list.append(el("span", {class: "taught"}, `${shotName(l.shot)} shows ${l.value} `,
      el("button", {text: "×", title: "not this one", "data-action": "untaught", onclick: async () => {
        labels.splice(i, 1); showList();
        if (labels.length) await learn(name, ex, glyphs, result);
      }}), " ")));
  };
  showList();
  const teach = el("button", {text: "Teach from this picture", "data-action": "teach", onclick: async () => {
    const v = value.value.trim();
    if (!/^\d+$/.test(v)) return status("type the number the picture shows (digits only)", true);
    let shot = S.shot;
    if (shot === "live") { // the frame is kept (it can be taught again and tried later); the view stays live
      const info = await api("/api/snapshot", {});
      S.shots.push(info);
      fillShots();
      shot = info.id;
    }
    const old = labels.findIndex((l) => l.shot === Number(shot));
    if (old >= 0) labels.splice(old, 1); // a picture shows one number: the latest typed
    labels.push({shot: Number(shot), value: v});
    value.value = "";
    showList();
    await learn(name, ex, glyphs, result);
  }});
  return el("div", {}, el("div", {class: "row"}, value, teach,
    el("button", {text: "Forget", title: "forget what was taught and the glyphs", onclick: () => {
      labels.length = 0; delete ex.glyphs; showList(); drawGlyphs(glyphs, {}); result.textContent = ""; changed(); }})),
    list, glyphs, result);
}

function shotName(id) {
  const s = S.shots.find((x) => x.id === Number(id));
  return s ? s.name : `picture ${id}`;
}

async function learn(name, ex, glyphBox, result) {
  try {
    const out = await api("/api/learn", {rules: S.rules, extractor: name, labels: S.teach[name]});
    result.innerHTML = "";
    result.className = "teach-result";
    if (out.problem) result.append(el("div", {class: "bad", text: out.problem}));
    else { ex.glyphs = out.glyphs; drawGlyphs(glyphBox, out.glyphs); }
    let misread = false;
    for (const r of out.reads) {
      const ok = r.reads !== null && Number(r.value) === r.reads;
      misread = misread || !ok;
      result.append(el("div", {class: ok ? "ok" : "bad",
        text: `${shotName(r.shot)} shows ${r.value}: reads ${fmt(r.reads)} ${ok ? "(ok)" : "(MISREAD: check region, colour, tolerance)"}`}));
    }
    const sg = out.suggest;
    if (misread && sg && (JSON.stringify(sg.color) !== JSON.stringify(ex.color) || sg.tolerance !== ex.tolerance)) {
      result.append(el("div", {class: "row"}, `colour ${sg.color.join(", ")} with tolerance ${sg.tolerance} reads ` +
        `${sg.right} of ${sg.of} right`, el("button", {text: "Use it", "data-action": "use-suggestion", onclick: async () => {
          ex.color = sg.color; ex.tolerance = sg.tolerance; renderExtractors(); await learnAgain(name); }})));
    }
    if (out.problem) return status(out.problem, true);
    status(`${name}: ${Object.keys(out.glyphs).length} glyphs learnt (${Object.keys(out.glyphs).join("")})`);
    changed();
  } catch (e) {
    result.textContent = e.message;
    result.className = "teach-result bad";
    status(e.message, true);
  }
}

async function learnAgain(name) {
  const div = document.querySelector(`[data-extractor="${name}"]`);
  await learn(name, S.rules.extractors[name], div.querySelector(".glyphs"), div.querySelector(".teach-result"));
}

function drawGlyphs(box, glyphs) {
  box.innerHTML = "";
  for (const [digit, text] of Object.entries(glyphs)) {
    const rows = text.split("/");
    const c = el("canvas", {width: rows[0].length, height: rows.length});
    c.style.width = `${rows[0].length * 3}px`; c.style.height = `${rows.length * 3}px`;
    const g = c.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height); g.fillStyle = "#000";
    rows.forEach((r, y) => [...r].forEach((v, x) => { if (v === "1") g.fillRect(x, y, 1, 1); }));
    box.append(el("div", {class: "glyph", "data-digit": digit}, digit, c));
  }
}

// ----- rules ---------------------------------------------------------------------------------------

function condText(c) { return typeof c === "string" ? c : JSON.stringify(c); }
function parseCond(line) { return line.startsWith("{") ? JSON.parse(line) : line; }

function renderRules() {
  const r = S.rules;
  $("reward").value = Object.entries(r.reward || {}).map(([k, v]) => `${k} = ${v}`).join("\n");
  for (const what of ["done", "pause"]) {
    const t = r[what] || {};
    const mode = t.all && !t.any ? "all" : "any";
    $(`${what}-mode`).value = mode;
    $(what).value = (t[mode] || []).map(condText).join("\n");
  }
  const score = $("score");
  score.innerHTML = "";
  score.append(el("option", {value: "", text: "(none)"}));
  Object.keys(r.extractors || {}).forEach((n) => score.append(el("option", {value: n, text: n})));
  score.value = r.score || "";
  $("rises").checked = !!(r.score && (r.rises || []).includes(r.score));
}

function readRules() {
  const r = S.rules;
  const reward = {};
  for (const line of $("reward").value.split("\n").map((s) => s.trim()).filter(Boolean)) {
    const m = line.match(/^([A-Za-z0-9_-]+)\s*[=:]\s*(-?[\d.]+(e-?\d+)?)$/);
    if (!m) throw new Error(`reward line "${line}": write extractor = weight`);
    reward[m[1]] = Number(m[2]);
  }
  r.reward = reward;
  for (const what of ["done", "pause"]) {
    const lines = $(what).value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (lines.length) r[what] = {[$(`${what}-mode`).value]: lines.map(parseCond)};
    else delete r[what];
  }
  if ($("score").value) r.score = $("score").value; else delete r.score;
  const rises = new Set(r.rises || []);
  if (r.score) { if ($("rises").checked) rises.add(r.score); else rises.delete(r.score); }
  if (rises.size) r.rises = [...rises]; else delete r.rises;
}

// ----- reading ---------------------------------------------------------------------------------------

let timer = null;
function changed() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 120);
}

async function refresh() {
  try { readRules(); } catch (e) { return status(e.message, true); }
  S.busy++;
  try {
    const out = await api("/api/read", {rules: S.rules, shot: S.shot});
    S.last = out;
    S.values = out.values;
    for (const [n, v] of Object.entries(out.values)) {
      const span = $(`reading-${n}`);
      if (span) { span.textContent = fmt(v); span.className = "reading" + (v === null ? " nan" : ""); }
    }
    $("verdict").textContent = `on this picture: ${out.done ? "GAME OVER" : "not game over"}` +
      (S.rules.pause ? `, ${out.paused ? "PAUSED" : "not paused"}` : "");
    $("toml").textContent = out.toml;
    if ($("status").className === "error" || !$("status").textContent) status("ok"); // keep what the last action said
    draw();
  } catch (e) { // nothing is read until the rules are valid again: no reading may be left from before
    status(e.message, true);
    S.values = {};
    document.querySelectorAll(".reading").forEach((span) => { span.textContent = "—"; span.className = "reading nan"; });
    $("verdict").textContent = "the rules cannot be read: see the message at the top";
    draw();
  } finally {
    S.busy--;
  }
}

async function snapshot() {
  const info = await api("/api/snapshot", {});
  S.shots.push(info);
  fillShots();
  await loadShot(String(info.id));
  changed();
  return info;
}

// ----- trying the rules over time ----------------------------------------------------------------------

async function tryRules(seconds) {
  try { readRules(); } catch (e) { return status(e.message, true); }
  status(seconds ? `watching the window for ${seconds} s...` : "reading every screenshot...");
  try {
    const out = await api("/api/try", {rules: S.rules, seconds});
    plot(out);
    const overs = out.done.filter((d, i) => d && !out.done[i - 1]).length;
    status(`${out.t.length} frames from the ${out.source}: game over ${overs} time(s), reward ${out.reward.reduce((a, b) => a + b, 0).toFixed(2)}`);
  } catch (e) {
    status(e.message, true);
  }
}

function plot(out) {
  const rows = [...Object.entries(out.values), ["reward", out.reward]];
  const W = 420, rowH = 46, n = out.t.length, H = rows.length * rowH + 16;
  const x = (i) => 4 + (W - 8) * (n > 1 ? i / (n - 1) : 0.5);
  const parts = [];
  out.done.forEach((d, i) => { if (d) parts.push(`<rect x="${x(i) - 1}" y="0" width="2.5" height="${H}" fill="#f4c7c3"/>`); });
  out.paused.forEach((p, i) => { if (p) parts.push(`<rect x="${x(i) - 1}" y="0" width="2.5" height="${H}" fill="#c6dafc"/>`); });
  rows.forEach(([name, vs], k) => {
    const ok = vs.filter((v) => v !== null);
    if (!ok.length) {
      parts.push(`<text x="4" y="${k * rowH + 11}" font-size="11">${name}: unreadable on every frame</text>`);
      return;
    }
    const lo = Math.min(...ok), hi = Math.max(...ok) > lo ? Math.max(...ok) : lo + 1;
    const y = (v) => k * rowH + rowH - 6 - (rowH - 18) * (v - lo) / (hi - lo);
    const pts = vs.map((v, i) => v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`).filter(Boolean).join(" ");
    parts.push(`<text x="4" y="${k * rowH + 11}" font-size="11">${name} (${fmt(Math.min(...ok))} .. ${fmt(Math.max(...ok))})</text>`);
    parts.push(`<polyline fill="none" stroke="${PALETTE[k % PALETTE.length].replace("ff", "b0")}" stroke-width="1.5" points="${pts}"/>`);
  });
  parts.push(`<text x="4" y="${H - 3}" font-size="10">red: game over, blue: paused; ${n} frames</text>`);
  $("plot").innerHTML = `<svg viewBox="0 0 ${W} ${H}" data-frames="${n}">${parts.join("")}</svg>`;
  const notes = el("ul", {class: "warnings"});
  for (const w of out.warnings || []) notes.append(el("li", {class: "bad", text: w}));
  if (!(out.warnings || []).length) notes.append(el("li", {class: "ok", text: "every extractor changed and no rule held on most frames"}));
  $("plot").append(notes);
}

// ----- start -----------------------------------------------------------------------------------------

async function start() {
  const st = await api("/api/state");
  S.rules = st.rules; S.shots = st.shots; S.live = st.live;
  S.rules.regions = S.rules.regions || {}; S.rules.extractors = S.rules.extractors || {};
  $("game").textContent = `${st.game} — from ${st.profile}, saves to ${st.out}`;
  S.shot = st.live ? "live" : "0";
  for (const id of ["snapshot", "live-label", "try-live", "try-seconds"]) $(id).hidden = !st.live;
  fillShots(); renderRegions(); renderExtractors(); renderRules(); setupCanvas();
  $("shot-select").addEventListener("change", async (ev) => { await loadShot(ev.target.value); changed(); });
  $("snapshot").addEventListener("click", () => snapshot().catch((e) => status(e.message, true)));
  for (const id of ["reward", "done", "pause", "done-mode", "pause-mode", "score", "rises"])
    $(id).addEventListener("change", changed);
  $("add-extractor").addEventListener("click", () => {
    const name = $("new-extractor").value.trim().replace(/[^A-Za-z0-9_-]/g, "_");
    if (!name) return status("give the extractor a name", true);
    const region = Object.keys(S.rules.regions)[0] || "";
    S.rules.extractors[name] = {kind: "color", region, color: [255, 255, 255], tolerance: 40};
    $("new-extractor").value = "";
    renderExtractors(); renderRules(); changed();
  });
  $("try-live").addEventListener("click", () => tryRules(Number($("try-seconds").value) || 10));
  $("try-shots").addEventListener("click", () => tryRules(0));
  $("save").addEventListener("click", async () => {
    try { readRules(); } catch (e) { return status(e.message, true); }
    try {
      const out = await api("/api/save", {rules: S.rules});
      $("toml").textContent = out.toml;
      status(`saved ${out.path}`);
    } catch (e) { status(e.message, true); }
  });
  setInterval(async () => {
    if ($("live-follow").checked && S.shot === "live" && !S.drag && !S.busy) { await loadShot("live"); changed(); }
  }, 700);
  if (S.live || S.shots.length) await loadShot(S.shot);
  await refresh();
  document.body.dataset.ready = "1";
}

start().catch((e) => status(e.message, true));
