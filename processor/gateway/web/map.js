// The live surge map: draws the city's zones from /api/zones, colours them by the
// multipliers pushed over /ws, and explains a zone on hover from /api/zone, with its
// last hour as a sparkline from /api/history. The header says which tick it shows and
// how old it is. No dependencies and no assets from elsewhere: the page must work
// without internet.
'use strict';

const CALM = 'rgb(213, 228, 207)';  // #d5e4cf, as computed styles write it
const RAMP = [[1.0, [254, 224, 139]], [1.5, [253, 174, 97]], [2.0, [244, 109, 67]],
              [3.0, [165, 0, 38]]];

// The fill of a zone with multiplier `m`: calm at 1 (no surge), then the surge ramp.
function surgeColour(m) {
  if (!(m > 1)) return CALM;
  let i = 1;
  while (i < RAMP.length - 1 && m > RAMP[i][0]) i++;
  const [m0, c0] = RAMP[i - 1], [m1, c1] = RAMP[i];
  const t = Math.max(0, Math.min(1, (m - m0) / (m1 - m0)));
  const c = c0.map((v, k) => Math.round(v + (c1[k] - v) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
window.surgeColour = surgeColour;

const params = new URLSearchParams(location.search);
const svg = document.getElementById('map');
const tip = document.getElementById('tip');
const statusEl = document.getElementById('status');
const zones = new Map();  // zone_id -> {path, name, multiplier, bound, tick}
let city = params.get('city');
let tick = 0;

function setStatus(text, down) {
  statusEl.textContent = text;
  statusEl.classList.toggle('down', !!down);
}

// How long ago `ms` was, in words: "4 s", "2 min 5 s".
function age(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function summary() {
  let surging = 0, max = 1;
  for (const z of zones.values()) {
    if (z.multiplier > 1) surging++;
    if (z.multiplier > max) max = z.multiplier;
  }
  const at = tick ? `${new Date(tick).toLocaleTimeString()} (${age(tick)} old)` : '–';
  return `tick ${at} · ${surging} zones surging · max ×${max.toFixed(2)}`;
}

function paint(id, multiplier, bound, zoneTick) {
  const z = zones.get(id);
  if (!z || (z.tick && zoneTick < z.tick)) return;
  z.multiplier = multiplier;
  z.bound = bound;
  z.tick = zoneTick;
  z.path.setAttribute('fill', surgeColour(multiplier));
  z.path.dataset.multiplier = String(multiplier);
  z.path.dataset.level = multiplier > 1 ? 'surge' : 'calm';
}

function onMessage(msg) {
  if (msg.type === 'snapshot') {
    for (const z of msg.zones) paint(z.zone_id, z.multiplier, z.bound, z.tick);
  } else if (msg.type === 'changes') {
    for (const c of msg.changes) paint(c.zone_id, c.multiplier, c.bound, msg.tick);
  } else {
    return;
  }
  if (msg.tick > tick) tick = msg.tick;
  document.body.dataset.tick = String(tick);
  setStatus(summary());
}

let connected = false;
// The tick's age grows between messages: the header says so every second.
setInterval(() => { if (connected && tick) setStatus(summary()); }, 1000);

function connect(attempt) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws?city=${encodeURIComponent(city)}`);
  ws.onopen = () => { attempt = 0; connected = true; document.body.dataset.connected = 'true'; };
  ws.onmessage = (e) => onMessage(JSON.parse(e.data));
  ws.onclose = () => {
    connected = false;
    document.body.dataset.connected = 'false';
    const wait = Math.min(10000, 500 * 2 ** attempt);
    setStatus(`disconnected; reconnecting in ${(wait / 1000).toFixed(1)} s`, true);
    setTimeout(() => connect(attempt + 1), wait);
  };
}

// Equirectangular projection around the city's centre: good enough at city scale.
function draw(geo) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const f of geo.features)
    for (const poly of f.geometry.coordinates)
      for (const [x, y] of poly[0]) {
        minX = Math.min(minX, x); maxX = Math.max(maxX, x);
        minY = Math.min(minY, y); maxY = Math.max(maxY, y);
      }
  const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  const scale = 1000 / Math.max((maxX - minX) * k, maxY - minY);
  const px = (x) => ((x - minX) * k * scale).toFixed(1);
  const py = (y) => ((maxY - y) * scale).toFixed(1);
  svg.setAttribute('viewBox', `-10 -10 ${(maxX - minX) * k * scale + 20} ${(maxY - minY) * scale + 20}`);
  for (const f of geo.features) {
    let d = '';
    for (const poly of f.geometry.coordinates)
      for (const ring of poly) d += 'M' + ring.map(([x, y]) => px(x) + ',' + py(y)).join('L') + 'Z';
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', d);
    path.setAttribute('class', 'zone');
    path.setAttribute('fill-rule', 'evenodd');
    path.setAttribute('fill', '#eceff1');
    path.dataset.zone = f.properties.zone_id;
    path.dataset.level = 'unknown';
    svg.appendChild(path);
    zones.set(f.properties.zone_id, {path, name: f.properties.zone_name, multiplier: null, tick: 0});
  }
}

function row(label, value) {
  return `<tr><td>${label}</td><td>${value}</td></tr>`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// A step line of (tick, multiplier) points since `fromMs` (or since the first point,
// when the zone's history is shorter), as inline SVG.
function sparkline(points, fromMs) {
  const W = 220, H = 48, P = 2;
  const now = Date.now();
  const shorter = points.length > 0 && points[0][0] > fromMs;
  if (shorter) fromMs = points[0][0];
  const top = Math.max(1.5, ...points.map((p) => p[1]));
  const x = (t) => (P + (W - 2 * P) * (t - fromMs) / Math.max(1, now - fromMs)).toFixed(1);
  const y = (m) => (P + (H - 2 * P) * (1 - (m - 1) / (top - 1))).toFixed(1);
  let d = '';
  points.forEach(([t, m], i) => {
    d += i === 0 ? `M${x(t)},${y(m)}` : `H${x(t)}V${y(m)}`;
  });
  if (points.length) d += `H${x(now)}`;
  return `<svg class="spark" data-points="${points.length}" width="${W}" height="${H}" ` +
      `viewBox="0 0 ${W} ${H}"><line x1="0" x2="${W}" y1="${y(1)}" y2="${y(1)}" ` +
      `stroke="#c5ccd3"/><path d="${d}" fill="none" stroke="#c2410c" stroke-width="1.5"/></svg>` +
      `<div class="spark-label">${shorter ? 'since ' + new Date(fromMs).toLocaleTimeString()
                                           : 'last hour'}: ×1 to ×${top.toFixed(2)}</div>`;
}

let hovered = null;
async function explain(id, event) {
  const z = zones.get(id);
  hovered = id;
  tip.style.display = 'block';
  tip.style.left = `${event.offsetX + 16}px`;
  tip.style.top = `${event.offsetY + 16}px`;
  const head = `<h2>${escapeHtml(z.name)} <small>(${escapeHtml(id)})</small></h2>`;
  tip.innerHTML = head + (z.multiplier === null ? 'no price yet' :
                          `<table>${row('multiplier', '×' + z.multiplier.toFixed(2))}</table>`);
  const res = await fetch(`/api/zone?city=${encodeURIComponent(city)}&zone=${encodeURIComponent(id)}`);
  if (!res.ok || hovered !== id) return;
  const u = await res.json();
  const num = (v, digits) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));
  tip.innerHTML = head + '<table>' +
      row('multiplier', '×' + num(u.multiplier, 2) + ' (was ×' + num(u.previous, 2) + ')') +
      row('supply (drivers)', u.supply) + row('demand (requests)', u.demand) +
      row('smoothed supply', num(u.supply_smoothed, 1)) +
      row('smoothed demand', num(u.demand_smoothed, 1)) +
      row('ratio', num(u.ratio, 3)) + row('target', '×' + num(u.target, 2)) +
      row('bound', escapeHtml(u.bound)) +
      row('tick', new Date(u.tick).toLocaleTimeString()) + '</table>' +
      '<div id="spark">last hour: loading…</div>';
  tip.dataset.zone = id;
  const hist = await fetch(`/api/history?city=${encodeURIComponent(city)}` +
                           `&zone=${encodeURIComponent(id)}&minutes=60`);
  if (hovered !== id) return;
  const spark = document.getElementById('spark');
  if (!hist.ok) {
    spark.textContent = `last hour: ${(await hist.json()).error || 'not available'}`;
    return;
  }
  const h = await hist.json();
  if (hovered === id) spark.innerHTML = sparkline(h.points, h.from);
}

svg.addEventListener('mouseover', (e) => {
  const id = e.target.dataset && e.target.dataset.zone;
  if (id) explain(id, e);
});
svg.addEventListener('mouseleave', () => { hovered = null; tip.style.display = 'none'; });

function legend() {
  const el = document.getElementById('legend');
  let html = `<span style="background:${CALM}"></span>×1`;
  for (const m of [1.25, 1.5, 2, 2.5, 3]) html += ` <span style="background:${surgeColour(m)}"></span>×${m}`;
  el.innerHTML = html;
}

async function main() {
  legend();
  if (!city) city = (await (await fetch('/api/cities')).json())[0];
  document.getElementById('city').textContent = city;
  document.title = `Surge map · ${city}`;
  const res = await fetch(`/api/zones?city=${encodeURIComponent(city)}`);
  if (!res.ok) {
    setStatus(`unknown city '${city}'`, true);
    return;
  }
  draw(await res.json());
  document.body.dataset.zones = String(zones.size);
  connect(0);
}

main().catch((e) => setStatus(`error: ${e}`, true));
