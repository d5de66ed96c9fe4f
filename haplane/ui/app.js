// haplane dashboard: one live stream (/cluster/dashboard/stream) per page, failover across replicas.
// Plain JavaScript, no dependencies. The token lives in sessionStorage of the origin the page came from
// and in memory; every data call sends it as a bearer token.
"use strict";

const KINDS = ["Node", "Pod", "Deployment", "Service", "Endpoints", "Event"];
const STALL_MS = 5000;      // no line for this long (a STATUS comes every second): the replica is gone
const EVENTS_SHOWN = 60;
const PODS_SHOWN = 300;

const S = {
  token: sessionStorage.getItem("haplane.token") || "",
  user: null,
  endpoints: [location.origin],  // the page's own origin first, then the members' API URLs
  current: 0,
  connectedTo: null,
  status: null,
  objects: Object.fromEntries(KINDS.map(k => [k, new Map()])),
  abort: null,
  renderQueued: false,
  generation: 0,
};

const $ = id => document.getElementById(id);
const esc = v => String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const key = o => `${o.metadata.namespace || ""}/${o.metadata.name}`;
const sleep = ms => new Promise(r => setTimeout(r, ms));

class AuthError extends Error {}

// ------------------------------------------------------------------------------------------- login

async function signIn(token) {
  const r = await fetch("/cluster/self", {headers: {Authorization: `Bearer ${token}`}});
  if (r.status === 401) throw new AuthError("That token is not valid for this cluster.");
  if (!r.ok) throw new Error(`The replica answered HTTP ${r.status}.`);
  const me = await r.json();
  S.token = token;
  S.user = me.caller || null;
  sessionStorage.setItem("haplane.token", token);
}

function showLogin(message) {
  if (S.abort) S.abort.abort();
  S.generation++;
  $("app").hidden = true; $("who").hidden = true; $("login").hidden = false;
  $("login-error").hidden = !message; $("login-error").textContent = message || "";
  setConn("offline", "not connected");
  $("token").focus();
}

function showApp() {
  $("login").hidden = true; $("app").hidden = false; $("who").hidden = false;
  $("who-text").textContent = S.user ? `${S.user.user} (${S.user.role})` : "";
}

$("login-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  $("login-button").disabled = true;
  try {
    await signIn($("token").value.trim());
    $("token").value = "";
    start();
  } catch (e) {
    showLogin(e.message);
  } finally {
    $("login-button").disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem("haplane.token");
  S.token = ""; S.user = null;
  showLogin("");
});

$("reports-refresh").addEventListener("click", () => loadReports());

// ------------------------------------------------------------------------------------------ stream

function setConn(state, text) {
  $("conn").dataset.state = state;
  $("conn-text").textContent = text;
}

function replicaName(url) {
  const m = (S.status?.members || []).find(m => m.http === url);
  return m?.name || url;
}

// The next replica to try after `failed`: the following one in the list that the last status saw up.
function nextEndpoint(failed) {
  const n = S.endpoints.length;
  const up = new Set((S.status?.members || []).filter(m => m.role !== "unreachable").map(m => m.http));
  for (let i = 1; i <= n; i++) {
    const j = (failed + i) % n;
    if (up.has(S.endpoints[j]) || up.size === 0) return j;
  }
  return (failed + 1) % n;
}

function learnEndpoints(status) {
  for (const m of status.members || []) {
    if (m.http && !S.endpoints.includes(m.http)) S.endpoints.push(m.http);
  }
}

async function run(generation) {
  let failures = 0;
  while (generation === S.generation) {
    const base = S.endpoints[S.current];
    setConn("connecting", `connecting to ${replicaName(base)}`);
    let broke = false;
    try {
      await follow(base, generation);
      failures = 0;   // the replica ended the stream (a watcher fell behind): reconnect to it
    } catch (e) {
      if (e instanceof AuthError) { showLogin(e.message); return; }
      broke = true;
      failures++;
    }
    if (generation !== S.generation) return;
    S.connectedTo = null;
    setConn("offline", `lost ${replicaName(base)}; trying the next replica`);
    if (broke) S.current = nextEndpoint(S.current);
    // Quick to fail over; back off once every replica has failed in a row.
    await sleep(failures > S.endpoints.length ? Math.min(2000, 250 * failures) : 100);
  }
}

// Read the stream from `base` until it ends (resolves) or breaks (throws).
async function follow(base, generation) {
  const abort = new AbortController();
  S.abort = abort;
  let stallTimer = null;
  const stall = () => { clearTimeout(stallTimer); stallTimer = setTimeout(() => abort.abort(), STALL_MS); };
  stall();
  const fresh = Object.fromEntries(KINDS.map(k => [k, new Map()]));
  const synced = new Set();
  try {
    const r = await fetch(`${base}/cluster/dashboard/stream`,
                          {headers: {Authorization: `Bearer ${S.token}`}, signal: abort.signal, cache: "no-store"});
    if (r.status === 401) throw new AuthError("The token was refused; sign in again.");
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      if (generation !== S.generation) { abort.abort(); return; }
      stall();
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (text) apply(JSON.parse(text), base, fresh, synced);
      }
    }
  } finally {
    clearTimeout(stallTimer);
  }
}

function apply(ev, base, fresh, synced) {
  if (ev.type === "STATUS") {
    S.status = ev.object;
    learnEndpoints(ev.object);
    if (S.connectedTo !== base) {
      S.connectedTo = base;
      setConn("live", `live from ${ev.object.name} (${base.replace(/^https?:\/\//, "")})`);
    }
  } else if (ev.type === "SYNCED") {
    synced.add(ev.kind);
    S.objects[ev.kind] = fresh[ev.kind];   // the stream's own view replaces the previous one
  } else if (ev.type === "ERROR") {
    return;  // the replica ends the stream next; run() reconnects
  } else {
    const map = synced.has(ev.kind) ? S.objects[ev.kind] : fresh[ev.kind];
    if (ev.type === "DELETED") map.delete(key(ev.object)); else map.set(key(ev.object), ev.object);
  }
  queueRender();
}

function start() {
  showApp();
  S.generation++;
  run(S.generation);
  loadReports();
}

// ------------------------------------------------------------------------------------------ render

function queueRender() {
  if (S.renderQueued) return;
  S.renderQueued = true;
  setTimeout(() => { S.renderQueued = false; render(); }, 100);
}

const list = kind => [...S.objects[kind].values()];
const byName = (a, b) => key(a).localeCompare(key(b));

function age(ts) {
  if (!ts) return "";
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function cond(obj, type) {
  return (obj.status?.conditions || []).find(c => c.type === type);
}

function badge(text, cls) { return `<span class="badge ${cls || ""}">${esc(text)}</span>`; }

function rows(id, htmlRows, cols, empty) {
  $(id).innerHTML = htmlRows.length ? htmlRows.join("") : `<tr><td class="empty" colspan="${cols}">${esc(empty)}</td></tr>`;
}

function render() {
  renderReplicas();
  renderNodes();
  renderDeployments();
  renderPods();
  renderServices();
  renderEvents();
  renderTiles();
}

function renderReplicas() {
  const st = S.status;
  if (!st) return;
  // The leader as the members themselves say (a dead leader is still "the leader" to its followers
  // until they elect another).
  const lead = st.members.find(m => m.role === "leader");
  $("leader-name").textContent = lead ? lead.name : "none (election under way)";
  rows("replica-rows", st.members.map(m => {
    const down = m.role === "unreachable";
    const role = m.role === "leader" ? badge("leader", "leader")
      : down ? badge("unreachable", "bad") : badge(m.role, m.role === "follower" ? "" : "warn");
    const health = down ? badge("down", "bad") : m.hasQuorum === false ? badge("no quorum", "warn") : badge("healthy", "ok");
    const self = m.http === S.connectedTo ? " self" : "";
    return `<tr class="${down ? "down" : ""}${self}" data-replica="${esc(m.name)}" data-role="${esc(m.role)}">
      <td><b>${esc(m.name)}</b></td><td>${role}</td><td class="num">${esc(m.term ?? "")}</td>
      <td class="num">${esc(m.commitIndex ?? "")}</td><td class="num">${esc(m.appliedIndex ?? "")}</td>
      <td>${health}</td><td class="mono">${esc(m.http)}</td></tr>`;
  }), 7, "no members known");
}

function nodeReady(n) {
  const c = cond(n, "Ready");
  if (!c) return badge("Unknown", "warn");
  const unsched = n.spec?.unschedulable ? " " + badge("cordoned", "warn") : "";
  return (c.status === "True" ? badge("Ready", "ok") : badge("NotReady", "bad")) + unsched;
}

function renderNodes() {
  const podsOn = new Map();
  for (const p of list("Pod")) {
    const n = p.spec?.nodeName;
    if (n) (podsOn.get(n) || podsOn.set(n, []).get(n)).push(p);
  }
  rows("node-rows", list("Node").sort(byName).map(n => {
    const addr = (n.status?.addresses || []).find(a => a.type === "InternalIP")?.address || "";
    const conds = (n.status?.conditions || []).map(c => {
      const healthy = c.type === "Ready" ? c.status === "True" : c.status !== "True";
      return `<span class="chip ${healthy ? "" : "bad"}" title="${esc(c.message || c.reason || "")}">${esc(c.type)}=${esc(c.status)}</span>`;
    }).join("");
    const pods = (podsOn.get(n.metadata.name) || []).sort(byName)
      .map(p => `<span class="chip" data-node-pod="${esc(key(p))}">${esc(p.metadata.name)}</span>`).join("");
    return `<tr data-node="${esc(n.metadata.name)}"><td><b>${esc(n.metadata.name)}</b></td><td>${nodeReady(n)}</td>
      <td class="mono">${esc(addr)}</td><td>${conds}</td><td>${pods || '<span class="muted">none</span>'}</td></tr>`;
  }), 5, "no nodes registered");
}

function renderDeployments() {
  rows("deployment-rows", list("Deployment").sort(byName).map(d => {
    const want = d.spec?.replicas ?? 1, s = d.status || {};
    const ready = s.readyReplicas || 0, updated = s.updatedReplicas || 0, avail = s.availableReplicas || 0;
    const done = want > 0 ? Math.min(100, Math.round(100 * Math.min(updated, avail) / want)) : 100;
    const rolling = updated < want || (s.replicas || 0) > want || avail < want;
    const prog = cond(d, "Progressing"), av = cond(d, "Available");
    const state = d.spec?.paused ? badge("paused", "warn")
      : prog?.status === "False" ? badge(prog.reason || "stalled", "bad")
      : rolling ? badge("rolling out", "info") : badge("complete", "ok");
    return `<tr data-deployment="${esc(key(d))}"><td>${esc(d.metadata.namespace)}</td><td><b>${esc(d.metadata.name)}</b></td>
      <td><span class="bar"><span class="${rolling ? "updating" : ""}" style="width:${done}%"></span></span>${state}</td>
      <td class="num">${ready}/${want}</td><td class="num">${updated}</td><td class="num">${avail}</td>
      <td>${av ? `<span class="chip ${av.status === "True" ? "" : "bad"}">Available=${esc(av.status)}</span>` : ""}</td></tr>`;
  }), 7, "no deployments");
}

function podState(p) {
  if (p.metadata.deletionTimestamp) return badge("Terminating", "warn");
  for (const c of p.status?.containerStatuses || []) {
    const w = c.state?.waiting;
    if (w && w.reason && w.reason !== "ContainerCreating") return badge(w.reason, "bad");
  }
  const phase = p.status?.phase || "Pending";
  const cls = {Running: "ok", Succeeded: "", Failed: "bad", Pending: "warn", Unknown: "warn"}[phase];
  const sched = cond(p, "PodScheduled");
  if (phase === "Pending" && sched?.status === "False") return badge("Unschedulable", "bad");
  return badge(phase, cls);
}

function renderPods() {
  const pods = list("Pod").sort(byName);
  $("pod-count").textContent = pods.length > PODS_SHOWN ? `${PODS_SHOWN} of ${pods.length} shown` : `${pods.length}`;
  rows("pod-rows", pods.slice(0, PODS_SHOWN).map(p => {
    const cs = p.status?.containerStatuses || [];
    const total = (p.spec?.containers || []).length;
    const ready = cs.filter(c => c.ready).length;
    const restarts = cs.reduce((a, c) => a + (c.restartCount || 0), 0);
    return `<tr data-pod="${esc(key(p))}"><td>${esc(p.metadata.namespace)}</td><td class="mono">${esc(p.metadata.name)}</td>
      <td>${podState(p)}</td><td class="num">${ready}/${total}</td><td class="num">${restarts}</td>
      <td>${esc(p.spec?.nodeName || "")}</td><td>${age(p.metadata.creationTimestamp)}</td></tr>`;
  }), 7, "no pods");
}

function renderServices() {
  rows("service-rows", list("Service").sort(byName).map(s => {
    const ports = (s.spec?.ports || []).map(p => `${p.port}${p.nodePort ? ":" + p.nodePort : ""}/${p.protocol || "TCP"}`);
    const ep = S.objects.Endpoints.get(key(s));
    const addrs = [];
    for (const sub of ep?.subsets || []) {
      const ps = (sub.ports || []).map(p => p.port);
      for (const a of sub.addresses || []) for (const p of ps.length ? ps : [""]) addrs.push(`<span class="chip">${esc(a.ip)}${p ? ":" + p : ""}</span>`);
      for (const a of sub.notReadyAddresses || []) addrs.push(`<span class="chip bad" title="not ready">${esc(a.ip)}</span>`);
    }
    return `<tr data-service="${esc(key(s))}"><td>${esc(s.metadata.namespace)}</td><td><b>${esc(s.metadata.name)}</b></td>
      <td>${esc(s.spec?.type || "ClusterIP")}</td><td class="mono">${s.spec?.clusterIP ? esc(s.spec.clusterIP) : '<span class="muted">none</span>'}</td>
      <td class="mono">${esc(ports.join(", "))}</td><td>${addrs.join("") || '<span class="muted">none</span>'}</td></tr>`;
  }), 6, "no services");
}

function renderEvents() {
  const when = e => e.lastTimestamp || e.eventTime || e.firstTimestamp || e.metadata.creationTimestamp || "";
  const evs = list("Event").sort((a, b) => when(b).localeCompare(when(a))).slice(0, EVENTS_SHOWN);
  rows("event-rows", evs.map(e => {
    const o = e.involvedObject || {};
    return `<tr><td>${age(when(e))}</td><td>${badge(e.type || "Normal", e.type === "Warning" ? "warn" : "")}</td>
      <td>${esc(e.reason)}</td><td class="mono">${esc((o.kind || "").toLowerCase())}/${esc(o.name)}</td>
      <td class="msg">${esc(e.message)}${e.count > 1 ? ` <span class="muted">(x${e.count})</span>` : ""}</td></tr>`;
  }), 5, "no events");
}

function renderTiles() {
  const st = S.status;
  const members = st?.members || [];
  const up = members.filter(m => m.role !== "unreachable").length;
  const nodes = list("Node"), pods = list("Pod"), deps = list("Deployment");
  const ready = nodes.filter(n => cond(n, "Ready")?.status === "True").length;
  const running = pods.filter(p => p.status?.phase === "Running").length;
  const complete = deps.filter(d => (d.status?.availableReplicas || 0) >= (d.spec?.replicas ?? 1)).length;
  const tile = (label, value, of) => `<div class="tile"><div class="label">${label}</div><div class="value">${value}<small> / ${of}</small></div></div>`;
  $("tiles").innerHTML = tile("Replicas up", up, members.length) + tile("Nodes ready", ready, nodes.length)
    + tile("Pods running", running, pods.length) + tile("Deployments available", complete, deps.length);
}

// ----------------------------------------------------------------------------------------- reports

async function authedFetch(path) {
  // Any replica will do; start with the one the stream is on.
  const order = [S.connectedTo, ...S.endpoints].filter((u, i, a) => u && a.indexOf(u) === i);
  let last;
  for (const base of order) {
    try {
      const r = await fetch(base + path, {headers: {Authorization: `Bearer ${S.token}`}, cache: "no-store"});
      if (r.ok) return r;
      last = new Error(`HTTP ${r.status}`);
    } catch (e) { last = e; }
  }
  throw last;
}

async function loadReports() {
  try {
    const doc = await (await authedFetch("/cluster/dashboard/reports")).json();
    $("reports-dir").textContent = doc.directory ? `in ${doc.directory}` : "(no --chaos-reports directory)";
    rows("report-rows", doc.items.map(r => {
      const verdict = r.ok === true ? badge("passed", "ok") : r.ok === false ? badge("failed", "bad") : badge("unreadable", "warn");
      const scen = (r.scenarios || []).map(s => `<span class="chip ${s.ok ? "" : "bad"}" title="${esc((s.failed || []).join(", ") || s.error || "")}">${esc(s.scenario)}</span>`).join("");
      const open = r.page ? `<button class="link" data-report="${esc(r.id)}">open</button>` : "";
      return `<tr data-report-row="${esc(r.name)}"><td><b>${esc(r.name)}</b></td><td>${verdict}</td><td>${scen || esc(r.error || "")}</td>
        <td>${esc(r.started || new Date(r.mtime * 1000).toISOString().slice(0, 19).replace("T", " "))}</td>
        <td class="num">${r.wall_s != null ? esc(r.wall_s) + "s" : ""}</td><td>${open}</td></tr>`;
    }), 6, "no chaos reports yet (haplane chaos run --report DIR/NAME)");
  } catch (e) {
    rows("report-rows", [], 6, `could not load the reports: ${e.message}`);
  }
}

$("report-rows").addEventListener("click", async ev => {
  const id = ev.target.dataset?.report;
  if (!id) return;
  const w = window.open("", "_blank");
  const html = await (await authedFetch(`/cluster/dashboard/reports/${encodeURIComponent(id)}`)).text();
  const url = URL.createObjectURL(new Blob([html], {type: "text/html"}));
  if (w) w.location = url; else location.href = url;
});

setInterval(() => { if (!$("app").hidden) renderPods(); }, 10000);  // ages only; no request

// ------------------------------------------------------------------------------------------- boot

(async () => {
  if (!S.token) { showLogin(""); return; }
  try { await signIn(S.token); start(); } catch (e) { showLogin(e instanceof AuthError ? "" : e.message); }
})();
