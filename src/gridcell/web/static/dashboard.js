/* gridcell dashboard: live panels (SSE wake-ups → one read of /web/data) and the DSO map (Leaflet, no tiles). */
(function () {
  "use strict";
  var COLORS = {ok: "#2e7d32", degraded: "#d4a106", at_risk: "#ef6c00", maintenance: "#1565c0", down: "#c62828",
                unknown: "#9aa3ad"};
  var RANK = {unknown: -1, ok: 0, degraded: 1, at_risk: 2, maintenance: 3, down: 4};
  var LABEL = {ok: "OK", degraded: "Degraded", at_risk: "At risk", maintenance: "Maintenance", down: "Down",
               unknown: "No agreement"};
  var live = document.getElementById("live");
  var mapEl = document.getElementById("map");
  var plmnSelect = document.getElementById("plmn");
  var state = {map: null, layers: null, data: null, fitted: false, loading: false, again: false};

  function setLive(cls, text) {
    if (!live) { return; }
    live.className = "live " + cls;
    live.textContent = text;
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c];
    });
  }

  function siteStatus(site, plmn) {
    if (plmn) { return site.status[plmn] || "unknown"; }
    return site.worst || "unknown";
  }

  function tip(site) {
    var rows = Object.keys(site.status).sort().map(function (p) {
      return "PLMN " + esc(p) + ": <b>" + esc(LABEL[site.status[p]] || site.status[p]) + "</b>";
    });
    return "<b>" + esc(site.id) + "</b> " + esc(site.name) + "<br>" + esc(site.kind.replace(/_/g, " ")) +
      " · " + esc(site.customers) + " customers<br>" + (rows.length ? rows.join("<br>") : "no agreement PLMN");
  }

  function drawMap(m) {
    if (!mapEl || typeof L === "undefined") {
      if (mapEl && !mapEl.dataset.failed) {
        mapEl.dataset.failed = "1";
        mapEl.textContent = "Map library not built: run `make assets`.";
      }
      return;
    }
    if (!state.map) {
      state.map = L.map(mapEl, {attributionControl: false, zoomSnap: 0.25, preferCanvas: false});
      state.layers = {lines: L.layerGroup().addTo(state.map), ran: L.layerGroup().addTo(state.map),
                      sites: L.layerGroup().addTo(state.map)};
      L.control.scale({imperial: false}).addTo(state.map);
    }
    var plmn = plmnSelect ? plmnSelect.value : "";
    var layers = state.layers;
    layers.lines.clearLayers();
    layers.ran.clearLayers();
    layers.sites.clearLayers();
    var bounds = [];
    (m.lines || []).forEach(function (ln) {
      var latlngs = ln.c.map(function (p) { return [p[1], p[0]]; });
      L.polyline(latlngs, {color: ln.dead ? COLORS.down : "#7b8794", weight: ln.dead ? 3 : 2,
                           dashArray: ln.dead || !ln.on ? "6 4" : null, opacity: 0.85, interactive: false})
        .addTo(layers.lines);
      latlngs.forEach(function (p) { bounds.push(p); });
    });
    (m.ranSites || []).forEach(function (r) {
      var icon = L.divIcon({className: "", iconSize: [14, 14],
        html: "<div class=\"ran-marker\" data-ran=\"" + esc(r.id) + "\" data-status=\"" + esc(r.status) +
              "\"></div>"});
      var mk = L.marker([r.lat, r.lon], {icon: icon, keyboard: false});
      mk.bindTooltip("<b>RAN site " + esc(r.id) + "</b><br>" + esc(r.name) + "<br>" +
                     (r.autonomyH != null ? "battery " + Number(r.autonomyH).toFixed(1) + " h<br>" : "") +
                     "status: " + esc(LABEL[r.status] || r.status), {className: "site-tip"});
      mk.addTo(layers.ran);
      bounds.push([r.lat, r.lon]);
    });
    var sites = (m.sites || []).slice().sort(function (a, b) {
      return RANK[siteStatus(a, plmn)] - RANK[siteStatus(b, plmn)];
    });
    sites.forEach(function (s) {
      var st = siteStatus(s, plmn);
      var mk = L.circleMarker([s.lat, s.lon], {radius: st === "ok" ? 7 : 9, color: "#263238", weight: 1.5,
                                               fillColor: COLORS[st] || COLORS.unknown, fillOpacity: 0.95});
      mk.bindTooltip(tip(s), {className: "site-tip"});
      mk.addTo(layers.sites);
      var el = mk.getElement();
      if (el) {
        el.setAttribute("data-site", s.id);
        el.setAttribute("data-status", st);
        el.classList.add("site-marker");
      }
      bounds.push([s.lat, s.lon]);
    });
    if (!state.fitted && bounds.length) {
      state.map.fitBounds(L.latLngBounds(bounds).pad(0.08));
      state.fitted = true;
    } else if (!bounds.length && !state.fitted) {
      state.map.setView([48.0, 7.85], 11);
    }
  }

  function apply(d) {
    state.data = d;
    var panels = document.getElementById("panels");
    if (panels && d.panels != null) {
      var open = {};
      panels.querySelectorAll("details[open]").forEach(function (el) {
        var row = el.closest("[data-ticket]");
        if (row) { open[row.getAttribute("data-ticket")] = true; }
      });
      panels.innerHTML = d.panels;
      Object.keys(open).forEach(function (id) {
        var el = panels.querySelector("[data-ticket=\"" + id + "\"] details");
        if (el) { el.open = true; }
      });
    }
    var side = document.getElementById("side");
    if (side && d.side != null) { side.innerHTML = d.side; }
    if (d.map) { drawMap(d.map); }
    document.body.setAttribute("data-updated", d.at);
  }

  function refresh() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    fetch("/web/data", {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (r.status === 401) { window.location.assign("/web/login"); throw new Error("logged out"); }
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(apply).catch(function (e) {
      setLive("off", "update failed");
      if (window.console) { console.warn("gridcell: refresh failed", e); }
    }).then(function () {
      state.loading = false;
      if (state.again) { state.again = false; refresh(); }
    });
  }

  function connect() {
    if (typeof EventSource === "undefined") { setLive("off", "no live updates"); return; }
    var es = new EventSource("/web/events");
    es.addEventListener("hello", function () {
      setLive("on", "live");
      // (Re)connected: anything may have changed before the stream was up.
      refresh();
    });
    es.addEventListener("changed", function () { refresh(); });
    es.onerror = function () { setLive("off", "reconnecting…"); };
  }

  if (plmnSelect) {
    plmnSelect.addEventListener("change", function () { if (state.data && state.data.map) { drawMap(state.data.map); } });
  }
  if (document.getElementById("panels")) {
    refresh();
    connect();
    // Time moves the timelines' "now" and the times-to-dark even without events.
    window.setInterval(refresh, 60000);
  }
}());
