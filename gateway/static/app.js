// The status page: open incidents on the grid tree, device health, camera tiles, live over SSE
// (an incident's clip plays in clip.js).
// Every data request carries the bearer token from localStorage (set from the login field or from a
// `#token=...` URL fragment, which never reaches the server and is removed from the address bar).
"use strict";

const TOKEN_KEY = "gridedge.token";
const LEVELS = ["district", "street", "community", "grid"];
const LEVEL_LABELS = { district: "district", street: "street", community: "community", grid: "cell" };
const state = {
  incidents: new Map(), revisions: new Map(), recent: [], devices: new Map(), cameras: new Map(),
  names: {}, collapsed: new Set(), snapshots: new Map(), shown: new Set(), loaded: false, started: false,
};

// -- token and requests ------------------------------------------------------------------------------

function takeTokenFromFragment() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

class Unauthorized extends Error {}

async function api(path, asBlob) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + token() }, cache: "no-store" });
  if (resp.status === 401) {
    showLogin(Boolean(token()));
    throw new Unauthorized(path);
  }
  if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
  return asBlob ? resp.blob() : resp.json();
}

function showLogin(wrong) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").hidden = !wrong;
  document.getElementById("token").focus();
}

// -- small helpers -------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function clock(ns) {
  if (!ns) return t("never");
  const locale = lang === "en" ? "en-GB" : "zh-CN";
  return new Date(ns / 1e6).toLocaleString(locale, { month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit" });
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return t("never");
  if (seconds < 90) return Math.max(0, Math.round(seconds)) + " " + t("agoS");
  if (seconds < 5400) return Math.round(seconds / 60) + " " + t("agoM");
  return Math.round(seconds / 3600) + " " + t("agoH");
}

function shown(value) {
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(1) : String(value);
}

function levelName(prefix) {
  return state.names[prefix] || prefix;
}

// -- incidents ------------------------------------------------------------------------------------------

function takeIncident(inc) {
  const known = state.revisions.get(inc.id);
  if (known !== undefined && inc.revision < known) return;
  state.revisions.set(inc.id, inc.revision);
  if (inc.state === "resolved") {
    state.incidents.delete(inc.id);
    state.recent = [inc, ...state.recent.filter((r) => r.id !== inc.id)].slice(0, 50);
  } else {
    state.incidents.set(inc.id, inc);
  }
}

function incidentCard(inc) {
  const values = el("dl", { class: "values" });
  for (const [key, value] of Object.entries(inc.values || {})) {
    values.append(el("dt", {}, key), el("dd", {}, shown(value)));
  }
  const fresh = state.loaded && !state.shown.has(inc.id); // highlight arrivals, not the first load
  state.shown.add(inc.id);
  const card = el("article", { class: "incident sev-" + inc.severity + (fresh ? " fresh" : ""),
    "data-incident-id": inc.id },
    el("header", {}, el("span", { class: "sev" }, t(inc.severity)),
      el("strong", {}, inc.event_type_label || inc.event_type), el("span", { class: "rule" }, inc.rule)),
    el("div", { class: "subject" }, inc.subject),
    values,
    el("div", { class: "time" }, t("opened") + " " + clock(inc.opened_ns) + " · r" + inc.revision));
  if (inc.has_snapshot) {
    const img = el("img", { class: "snap", alt: t("snapshot") });
    card.append(img);
    const cached = state.snapshots.get("inc:" + inc.id);
    if (cached) img.src = cached;
    else loadImage(img, "/api/v1/incidents/" + encodeURIComponent(inc.id) + "/snapshot.jpg", "inc:" + inc.id);
  }
  if (inc.clip) {
    const title = (inc.event_type_label || inc.event_type) + " · " + inc.subject;
    card.append(el("button", { class: "clip", type: "button", onclick: () => openClip(inc.clip, title) }, t("clip")));
  }
  return card;
}

function groupTree(incidents) {
  const root = { children: new Map(), items: [], count: 0 };
  for (const inc of incidents) {
    const levels = inc.levels || { district: "?", street: "?", community: "?", grid: inc.grid || "?" };
    let node = root;
    node.count += 1;
    for (const level of LEVELS) {
      const key = levels[level];
      if (!node.children.has(key)) node.children.set(key, { level, key, children: new Map(), items: [], count: 0 });
      node = node.children.get(key);
      node.count += 1;
    }
    node.items.push(inc);
  }
  return root;
}

function treeNode(node) {
  const box = el("details", { class: "level-" + node.level, "data-prefix": node.key });
  box.open = !state.collapsed.has(node.key);
  box.addEventListener("toggle", () => {
    if (box.open) state.collapsed.delete(node.key);
    else state.collapsed.add(node.key);
  });
  box.append(el("summary", {}, el("span", { class: "lvl" }, t(LEVEL_LABELS[node.level])),
    el("span", { class: "name" }, levelName(node.key)), el("span", { class: "count" }, node.count)));
  for (const child of [...node.children.values()].sort((a, b) => a.key.localeCompare(b.key))) {
    box.append(treeNode(child));
  }
  for (const inc of node.items.sort((a, b) => b.updated_ns - a.updated_ns)) box.append(incidentCard(inc));
  return box;
}

function renderIncidents() {
  const open = [...state.incidents.values()];
  const tree = document.getElementById("tree");
  const root = groupTree(open);
  tree.replaceChildren(...[...root.children.values()].map(treeNode));
  document.getElementById("open-count").textContent = open.length;
  document.getElementById("no-incidents").hidden = open.length > 0;
  const recent = document.getElementById("recent");
  recent.replaceChildren(...state.recent.map((inc) => el("li", { "data-incident-id": inc.id },
    el("span", { class: "sev sev-" + inc.severity }, t(inc.severity)), " ",
    el("strong", {}, inc.event_type_label || inc.event_type), " ", inc.subject, " · ",
    levelName(inc.grid || ""), " · ", t("resolvedAt"), " ", clock(inc.resolved_ns))));
  document.getElementById("recent-count").textContent = state.recent.length;
}

// -- devices ---------------------------------------------------------------------------------------------

function renderDevices() {
  const rows = [...state.devices.values()].sort((a, b) => (b.silent - a.silent) || a.id.localeCompare(b.id));
  const body = document.querySelector("#devices tbody");
  body.replaceChildren(...rows.map((d) => el("tr", { class: d.silent ? "silent" : "", "data-device": d.id },
    el("td", {}, el("strong", {}, d.id), el("small", {}, d.name || "")), el("td", {}, d.kind),
    el("td", { title: d.grid }, d.grid_name || d.grid), el("td", {}, ago(d.age_s)),
    el("td", {}, el("span", { class: "health h-" + d.health }, t(d.health))))));
  const silent = rows.filter((d) => d.silent).length;
  document.getElementById("device-summary").textContent =
    t("deviceSummary").replace("{silent}", silent).replace("{total}", rows.length);
}

// -- cameras ---------------------------------------------------------------------------------------------

async function loadImage(img, path, key) {
  try {
    const blob = await api(path, true);
    const url = URL.createObjectURL(blob);
    img.onload = () => {
      img.dataset.loaded = "1";
      const old = state.snapshots.get(key);
      if (old && old !== url) URL.revokeObjectURL(old);
      state.snapshots.set(key, url);
    };
    img.src = url;
  } catch (err) {
    img.dataset.loaded = img.dataset.loaded || "0";
  }
}

function cameraTile(cam) {
  let tile = document.querySelector(`.tile[data-camera="${CSS.escape(cam.id)}"]`);
  if (!tile) {
    tile = el("figure", { class: "tile", "data-camera": cam.id },
      el("img", { alt: cam.id, "data-camera": cam.id }), el("figcaption", {}));
    document.getElementById("cameras").append(tile);
  }
  tile.className = "tile cam-" + cam.state;
  tile.querySelector("figcaption").replaceChildren(el("strong", {}, cam.id), " ",
    el("span", { class: "state" }, t(cam.state)), " · " + (cam.fps || 0).toFixed(1) + " " + t("fps"));
  return tile;
}

function renderCameras() {
  const cams = [...state.cameras.values()];
  for (const cam of cams) cameraTile(cam);
  document.getElementById("no-cameras").hidden = cams.length > 0;
}

function refreshCameraImages() {
  for (const cam of state.cameras.values()) {
    if (!cam.has_preview) continue;
    const img = document.querySelector(`img[data-camera="${CSS.escape(cam.id)}"]`);
    if (img) loadImage(img, "/api/v1/cameras/" + encodeURIComponent(cam.id) + "/snapshot.jpg", "cam:" + cam.id);
  }
}

// -- loading and live updates ---------------------------------------------------------------------------

async function loadAll() {
  const [grid, incidents, devices, cameras] = await Promise.all([
    api("/api/v1/grid"), api("/api/v1/incidents"), api("/api/v1/devices"), api("/api/v1/cameras")]);
  state.names = grid.names || {};
  for (const inc of incidents.incidents.slice().reverse()) takeIncident(inc);
  state.devices = new Map(devices.devices.map((d) => [d.id, d]));
  state.cameras = new Map(cameras.cameras.map((c) => [c.id, c]));
  renderIncidents();
  renderDevices();
  renderCameras();
  refreshCameraImages();
  state.loaded = true;
}

function handleEvent(block) {
  let kind = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (kind === "incident") {
    takeIncident(payload.incident);
    renderIncidents();
  } else if (kind === "device") {
    state.devices.set(payload.id, payload);
    renderDevices();
  } else if (kind === "camera") {
    const old = state.cameras.get(payload.id) || {};
    state.cameras.set(payload.id, { ...old, ...payload });
    renderCameras();
  }
}

function setLive(on) {
  const live = document.getElementById("live");
  live.className = "pill " + (on ? "on" : "off");
  live.dataset.i18n = on ? "online" : "offline";
  live.textContent = t(live.dataset.i18n);
}

async function stream() {
  // fetch() rather than EventSource: EventSource cannot send the Authorization header.
  for (;;) {
    try {
      const resp = await fetch("/api/v1/events", { headers: { Authorization: "Bearer " + token() } });
      if (resp.status === 401) {
        showLogin(true);
        return;
      }
      if (!resp.ok || !resp.body) throw new Error("events: HTTP " + resp.status);
      setLive(true);
      loadAll().catch(() => {}); // the stream is open: nothing from now on is missed
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          handleEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (err) {
      console.warn("live stream:", err);
    }
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function pollReady() {
  const pill = document.getElementById("ready");
  try {
    const resp = await fetch("/readyz", { cache: "no-store" });
    const body = await resp.json();
    pill.dataset.i18n = body.ready ? "ready" : "notReady";
    pill.className = "pill " + (body.ready ? "on" : "warn");
    pill.title = Object.entries(body.components).filter(([, c]) => !c.ok).map(([name]) => name).join(", ");
  } catch (err) {
    pill.dataset.i18n = "offline";
    pill.className = "pill off";
  }
  pill.textContent = t(pill.dataset.i18n);
}

async function refreshDevices() {
  try {
    const devices = await api("/api/v1/devices");
    state.devices = new Map(devices.devices.map((d) => [d.id, d]));
    renderDevices();
    const cameras = await api("/api/v1/cameras");
    state.cameras = new Map(cameras.cameras.map((c) => [c.id, c]));
    renderCameras();
  } catch (err) {
    /* shown by the live pill or the login */
  }
}

function start() {
  if (state.started || !token()) {
    if (!token()) showLogin(false);
    return;
  }
  state.started = true;
  stream();
  setInterval(refreshCameraImages, 2000);
  setInterval(refreshDevices, 10000);
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
  document.getElementById("login").hidden = true;
  if (state.started) location.reload();
  else start();
});
document.getElementById("logout").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  location.reload();
});
document.getElementById("lang").addEventListener("click", () => {
  toggleLang();
  renderIncidents();
  renderDevices();
  renderCameras();
});

takeTokenFromFragment();
applyLabels();
pollReady();
setInterval(pollReady, 5000);
start();
