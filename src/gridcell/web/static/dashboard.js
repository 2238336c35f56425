/* gridcell console: live pages (SSE wake-ups → one fresh read), the exchange clock, and the maps (Leaflet, no
   tiles). Overview pages read /web/data (panels as HTML, map layers as JSON); every other page re-reads itself and
   swaps its [data-live] regions, leaving forms alone. */
(function () {
  "use strict";
  var COLORS = {ok: "#2e7d32", degraded: "#d4a106", at_risk: "#ef6c00", maintenance: "#1565c0", down: "#c62828",
                unknown: "#9aa3ad", mains: "#2e7d32", battery: "#ef6c00", dark: "#c62828"};
  var RANK = {unknown: -1, ok: 0, degraded: 1, at_risk: 2, maintenance: 3, down: 4};
  var LABEL = {ok: "OK", degraded: "Degraded", at_risk: "At risk", maintenance: "Maintenance", down: "Down",
               unknown: "No agreement"};
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
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

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* ---- the exchange's clock (the demo runs faster than the wall) ---------------------------------------- */
  var clock = {el: document.getElementById("clock"), base: null, wall0: 0, speed: 1};

  function setClock(iso, speed) {
    var t = Date.parse(iso);
    if (isNaN(t)) { return; }
    clock.base = t;
    clock.wall0 = Date.now();
    clock.speed = speed > 0 ? speed : 1;
  }

  function tickClock() {
    var out = document.getElementById("clock-time");
    if (!out || clock.base === null) { return; }
    var d = new Date(clock.base + (Date.now() - clock.wall0) * clock.speed);
    out.textContent = pad(d.getUTCDate()) + " " + MONTHS[d.getUTCMonth()] + " " + pad(d.getUTCHours()) + ":" +
      pad(d.getUTCMinutes()) + " UTC";
    out.setAttribute("datetime", d.toISOString());
  }

  if (clock.el) {
    setClock(clock.el.getAttribute("data-now"), parseFloat(clock.el.getAttribute("data-speed")));
    window.setInterval(tickClock, clock.speed > 1 ? 1000 : 15000);
  }

  /* ---- the DSO overview map --------------------------------------------------------------------------- */
  function siteStatus(site, how) {
    if (how === "worst") { return site.worst || "unknown"; }
    if (how) { return site.status[how] || "unknown"; }
    return site.best || "unknown";  // reachability: the best PLMN the site still has
  }

  function tip(site) {
    var rows = Object.keys(site.status).sort().map(function (p) {
      return "PLMN " + esc(p) + ": <b>" + esc(LABEL[site.status[p]] || site.status[p]) + "</b>";
    });
    var via = (site.reachableVia || []).length ? "Reachable via " + esc(site.reachableVia.join(", ")) :
      (rows.length ? "<b>Unreachable on every PLMN</b>" : "");
    return "<b>" + esc(site.id) + "</b> " + esc(site.name) + "<br>" + esc(site.kind.replace(/_/g, " ")) +
      " · " + esc(site.customers) + " customers<br>" + (rows.length ? rows.join("<br>") : "no agreement PLMN") +
      (via ? "<br>" + via : "");
  }

  function ensureMap(el) {
    if (typeof L === "undefined") {
      if (!el.dataset.failed) {
        el.dataset.failed = "1";
        el.textContent = "Map library not built: run `make assets`.";
      }
      return null;
    }
    if (!el._gcMap) {
      el._gcMap = L.map(el, {attributionControl: false, zoomSnap: 0.25, keyboard: true, maxZoom: 18});
      L.control.scale({imperial: false}).addTo(el._gcMap);
    }
    return el._gcMap;
  }

  function drawMap(m) {
    if (!mapEl) { return; }
    var map = ensureMap(mapEl);
    if (!map) { return; }
    if (!state.layers) {
      state.layers = {lines: L.layerGroup().addTo(map), ran: L.layerGroup().addTo(map),
                      sites: L.layerGroup().addTo(map)};
    }
    var how = plmnSelect ? plmnSelect.value : "";
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
      return RANK[siteStatus(a, how)] - RANK[siteStatus(b, how)];
    });
    sites.forEach(function (s) {
      var st = siteStatus(s, how);
      var degradedRedundancy = !how && s.worst !== s.best && s.worst !== "unknown";
      var mk = L.circleMarker([s.lat, s.lon], {radius: st === "ok" ? 7 : 9,
                                               color: degradedRedundancy ? COLORS[s.worst] : "#263238",
                                               weight: degradedRedundancy ? 3.5 : 1.5,
                                               fillColor: COLORS[st] || COLORS.unknown, fillOpacity: 0.95});
      mk.bindTooltip(tip(s), {className: "site-tip"});
      mk.on("click", function () { window.location.assign("/web/sites/" + encodeURIComponent(s.id)); });
      mk.addTo(layers.sites);
      var el = mk.getElement();
      if (el) {
        el.setAttribute("data-site", s.id);
        el.setAttribute("data-status", st);
        el.setAttribute("data-via", (s.reachableVia || []).join(","));
        el.classList.add("site-marker");
      }
      bounds.push([s.lat, s.lon]);
    });
    if (!state.fitted && bounds.length) {
      map.fitBounds(L.latLngBounds(bounds).pad(0.08), {maxZoom: 15});
      state.fitted = true;
    } else if (!bounds.length && !state.fitted) {
      map.setView([48.0, 7.85], 11);
    }
  }

  /* ---- keyboard access to what scrolls sideways (wide tables on a phone) -------------------------------- */
  var FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

  function scrollablesFocusable() {
    document.querySelectorAll(".card, .scroll").forEach(function (el) {
      var scrolls = el.scrollWidth > el.clientWidth + 1;
      var owns = el.getAttribute("data-gc-tab") === "1";
      if (scrolls && !el.hasAttribute("tabindex") && !el.querySelector(FOCUSABLE)) {
        el.setAttribute("tabindex", "0");
        el.setAttribute("data-gc-tab", "1");
      } else if (!scrolls && owns) {
        el.removeAttribute("tabindex");
        el.removeAttribute("data-gc-tab");
      }
    });
  }

  scrollablesFocusable();
  window.addEventListener("resize", scrollablesFocusable);

  /* ---- live refresh ------------------------------------------------------------------------------------- */
  function applyOverview(d) {
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
    if (d.clock) { setClock(d.clock.now, d.clock.speed); tickClock(); }
    scrollablesFocusable();
    document.body.setAttribute("data-updated", d.at);
  }

  function applyRegions(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live][id]").forEach(function (el) {
      var fresh = doc.getElementById(el.id);
      if (!fresh || el.contains(document.activeElement)) { return; }
      el.innerHTML = fresh.innerHTML;
    });
    var fclock = doc.getElementById("clock");
    if (fclock) { setClock(fclock.getAttribute("data-now"), parseFloat(fclock.getAttribute("data-speed"))); }
    var data = doc.getElementById("page-data");
    if (data) { window.dispatchEvent(new CustomEvent("gridcell:data", {detail: data.textContent})); }
    scrollablesFocusable();
    document.body.setAttribute("data-updated", new Date().toISOString());
  }

  var overview = !!document.getElementById("panels");
  var regions = !overview && document.querySelector("[data-live]") !== null;

  function refresh() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    var url = overview ? "/web/data" : window.location.href;
    fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (r.status === 401 || (r.redirected && /\/web\/login$/.test(r.url))) {
        window.location.assign("/web/login");
        throw new Error("logged out");
      }
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return overview ? r.json() : r.text();
    }).then(function (d) {
      if (overview) { applyOverview(d); } else { applyRegions(d); }
    }).catch(function (e) {
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
      refresh();  // (re)connected: anything may have changed before the stream was up
    });
    es.addEventListener("changed", function () { refresh(); });
    es.onerror = function () { setLive("off", "reconnecting…"); };
  }

  if (plmnSelect) {
    plmnSelect.addEventListener("change", function () {
      if (state.data && state.data.map) { drawMap(state.data.map); }
    });
  }
  if (overview || regions) {
    if (overview) { refresh(); }
    connect();
    // Time moves the timelines' "now" and the times-to-dark even without events.
    window.setInterval(refresh, 60000);
  } else if (live) {
    live.hidden = true;
  }

  window.gridcell = {esc: esc, COLORS: COLORS, LABEL: LABEL, ensureMap: ensureMap};
}());
