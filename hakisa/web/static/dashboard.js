// hakisa dashboard: polls /api/live a few times a second and draws what the agent sees and does.
"use strict";

const $ = (id) => document.getElementById(id);
const D = {last: null, polls: 0, errors: 0};
window.dash = D; // for the browser test and for people poking at the console

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const num = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v)) ? "-" : Number(v).toFixed(d);

function bars(values, names, chosen, width = 300) {
  const n = values.length, rowH = 14, H = n * rowH + 4;
  const lo = Math.min(0, ...values), hi = Math.max(...values, lo + 1e-6);
  const x = (v) => 90 + (width - 130) * (v - lo) / (hi - lo);
  const parts = values.map((v, i) => {
    const y = 2 + i * rowH, x0 = x(Math.min(0, v)), x1 = x(Math.max(0, v));
    const fill = i === chosen ? "#ff5ac8" : "#9aa3b5";
    return `<text x="86" y="${y + 10}" font-size="10" text-anchor="end">${esc(names[i] ?? i)}</text>` +
      `<rect x="${x0}" y="${y + 1}" width="${Math.max(1, x1 - x0)}" height="${rowH - 3}" fill="${fill}"/>` +
      `<text x="${Math.min(width - 2, x1 + 3)}" y="${y + 10}" font-size="9">${num(v)}</text>`;
  });
  return `<svg viewBox="0 0 ${width} ${H}" width="${width}" height="${H}">${parts.join("")}</svg>`;
}

function line(xs, ys, W, H, colour, lo, hi, x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1e-6)) {
  if (!xs.length) return "";
  const px = (v) => 4 + (W - 8) * (v - x0) / (x1 - x0), py = (v) => H - 4 - (H - 8) * (v - lo) / (hi - lo || 1);
  return `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${xs.map((v, i) =>
    `${px(v).toFixed(1)},${py(ys[i]).toFixed(1)}`).join(" ")}"/>`;
}

function render(s) {
  $("game").textContent = `${s.game} — ${s.command}`;
  const c = $("control");
  c.textContent = s.control === "person" ? "a PERSON is in control" : "the AGENT is in control";
  c.className = "badge " + (s.control === "person" ? "person" : "agent");
  if (s.tick === null) {
    $("where").textContent = "waiting for the first step (a game starting, a reset)";
  } else {
    $("frame").src = "data:image/png;base64," + s.frame;
    $("frame").dataset.tick = s.tick;
    $("where").textContent = `episode ${s.episode + 1}, step ${s.step}, tick ${s.tick}`;
    $("action").textContent = `${s.action_text} (${s.greedy ? "its choice" : "random"}, Q ${num(s.q, 3)})`;
    $("heads").innerHTML = s.heads.map((h, i) => `<div class="head"><b>${h.head}</b>` +
      bars(h.q, h.names, i === 0 || s.command_name !== "noop" ? s.action[i] : -1) + "</div>").join("");
  }
  // rewards: the screen's per tick, and each vote where it came
  const W = 420, H = 90, r = s.rewards;
  const vs = s.votes.filter((v) => v.age_s <= 60);
  const all = r.screen.concat(vs.map((v) => v.value));
  const lo = Math.min(0, ...all), hi = Math.max(0.1, ...all);
  const marks = vs.map((v) => {
    const x = 4 + (W - 8) * (1 - v.age_s / 60), y = H - 4 - (H - 8) * (v.value - lo) / (hi - lo || 1);
    const col = v.source === "chat" ? "#00a0c0" : "#e08000";
    return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${col}"><title>${esc(v.source)} ${num(v.value)}</title></circle>`;
  });
  const xs = r.t.map((t) => 60 + t);
  $("reward-plot").innerHTML = `<svg viewBox="0 0 ${W} ${H}" width="100%" height="${H}" preserveAspectRatio="none">` +
    `<line x1="0" x2="${W}" y1="${H - 4 - (H - 8) * (0 - lo) / (hi - lo || 1)}" y2="${H - 4 - (H - 8) * (0 - lo) / (hi - lo || 1)}" stroke="#ddd"/>` +
    line(xs, r.screen, W, H, "#5a6", lo, hi, 0, 60) + marks.join("") + "</svg>";
  const screen = r.screen.reduce((a, b) => a + b, 0);
  $("totals").textContent = `last minute: screen ${num(screen)}; in all: hotkeys ${num(s.vote_totals.hotkey || 0)}, ` +
    `chat ${num(s.vote_totals.chat || 0)}`;
  $("votes").querySelector("tbody").innerHTML = s.votes.slice(-10).reverse().map((v) =>
    `<tr data-who="${esc(v.who)}"><td>${esc(v.source)}</td><td class="mono">${esc(v.who)}</td>` +
    `<td class="${v.value >= 0 ? "ok" : "bad"}">${num(v.value)}</td><td>${num(v.age_s, 1)}</td></tr>`).join("");
  // score per episode
  const eps = s.episodes.slice(-40);
  if (eps.length) {
    const top = Math.max(1, ...eps.map((e) => e.score ?? 0)), bw = Math.max(3, Math.floor(400 / eps.length) - 2);
    $("episodes").innerHTML = `<svg viewBox="0 0 420 80" width="100%" height="80" preserveAspectRatio="none">` + eps.map((e, i) => {
      const h = 70 * (e.score ?? 0) / top;
      return `<rect x="${4 + i * (bw + 2)}" y="${76 - h}" width="${bw}" height="${Math.max(1, h)}" fill="#78a"><title>episode ${e.episode + 1}: ${e.score ?? "-"}</title></rect>`;
    }).join("") + `</svg><p class="mono">last ${eps.length}: mean ${num(eps.reduce((a, e) => a + (e.score ?? 0), 0) / eps.length, 1)}</p>`;
  } else {
    $("episodes").textContent = "no episode has ended yet";
  }
  if (s.curve.length) {
    $("curve-card").hidden = false;
    const xs2 = s.curve.map((p) => p.hours_play), ys2 = s.curve.map((p) => p.score_mean ?? 0);
    $("curve").innerHTML = `<svg viewBox="0 0 420 100" width="100%" height="100" preserveAspectRatio="none">` +
      line(xs2, ys2, 420, 100, "#b48cff", Math.min(...ys2), Math.max(...ys2) + 1e-6) + `</svg><p class="mono">` +
      `${s.curve.length} segments, ${num(xs2[xs2.length - 1], 2)} h of play, last score ${num(ys2[ys2.length - 1], 1)}</p>`;
  }
}

async function poll() {
  try {
    const res = await fetch("/api/live", {cache: "no-store"});
    const s = await res.json();
    if (s.error) throw new Error(s.error);
    D.last = s; D.polls++;
    render(s);
    $("status").textContent = "";
  } catch (e) {
    D.errors++;
    $("status").textContent = "the agent is not answering (stopped?)";
    $("status").className = "error";
  } finally {
    setTimeout(poll, 250);
  }
}

poll();
