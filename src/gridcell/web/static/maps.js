/* gridcell console maps besides the DSO overview: an outage's map (grid, sites and RAN sites by power state),
   the affected-area drawing of a new outage, and the MNO's map of its RAN sites. Layers come from the page's
   JSON (#page-data) and are redrawn when the live refresh brings new data. */
(function () {
  "use strict";
  var g = window.gridcell;
  if (!g || typeof L === "undefined") { return; }
  var POWER = {mains: g.COLORS.ok, battery: g.COLORS.at_risk, dark: g.COLORS.down};

  function pageData(text) {
    var el = document.getElementById("page-data");
    try { return JSON.parse(text || (el ? el.textContent : "{}")); } catch (e) { return {}; }
  }

  function ranIcon(id, state) {
    return L.divIcon({className: "", iconSize: [14, 14],
      html: "<div class=\"ran-marker\" data-ran=\"" + g.esc(id) + "\" data-power=\"" + g.esc(state || "") +
            "\"></div>"});
  }

  function drawLayers(map, group, d, fit) {
    group.clearLayers();
    var bounds = [];
    (d.lines || []).forEach(function (ln) {
      var latlngs = ln.c.map(function (p) { return [p[1], p[0]]; });
      L.polyline(latlngs, {color: ln.dead ? g.COLORS.down : "#7b8794", weight: ln.dead ? 3 : 2,
                           dashArray: ln.dead || !ln.on ? "6 4" : null, opacity: 0.85, interactive: false})
        .addTo(group);
      latlngs.forEach(function (p) { bounds.push(p); });
    });
    (d.areas || []).forEach(function (a) {
      L.polygon(a.c.map(function (p) { return [p[1], p[0]]; }),
                {color: g.COLORS.down, weight: 1.5, dashArray: "4 3", fillOpacity: 0.08})
        .bindTooltip(g.esc(a.label || "outage area")).addTo(group);
      a.c.forEach(function (p) { bounds.push([p[1], p[0]]); });
    });
    (d.sites || []).forEach(function (s) {
      var mk = L.circleMarker([s.lat, s.lon], {radius: 7, color: "#263238", weight: 1.5,
                                               fillColor: POWER[s.state] || g.COLORS.unknown, fillOpacity: 0.95});
      mk.bindTooltip("<b>" + g.esc(s.id) + "</b> " + g.esc(s.name || "") + "<br>" + g.esc(s.state || ""));
      mk.addTo(group);
      var el = mk.getElement();
      if (el) { el.setAttribute("data-site", s.id); el.setAttribute("data-power", s.state || ""); }
      bounds.push([s.lat, s.lon]);
    });
    (d.ranSites || []).forEach(function (r) {
      var mk = L.marker([r.lat, r.lon], {icon: ranIcon(r.id, r.state), keyboard: false});
      var lines = ["<b>RAN site " + g.esc(r.id) + "</b>"];
      if (r.name) { lines.push(g.esc(r.name)); }
      if (r.state) { lines.push("power: " + g.esc(r.state)); }
      if (r.autonomyH != null) { lines.push("battery " + Number(r.autonomyH).toFixed(1) + " h"); }
      if (r.darkAt) { lines.push("dark at " + g.esc(String(r.darkAt).substr(11, 5)) + " UTC"); }
      if (r.dsoSites) { lines.push(g.esc(r.dsoSites) + " DSO site(s) served"); }
      mk.bindTooltip(lines.join("<br>"), {className: "site-tip"});
      if (r.href) { mk.on("click", function () { window.location.assign(r.href); }); }
      mk.addTo(group);
      bounds.push([r.lat, r.lon]);
    });
    if (fit && bounds.length) { map.fitBounds(L.latLngBounds(bounds).pad(0.1), {maxZoom: 15}); }
    return bounds.length;
  }

  function liveMap(el) {
    var map = g.ensureMap(el);
    if (!map) { return; }
    var group = L.layerGroup().addTo(map);
    if (!drawLayers(map, group, pageData(), true)) { map.setView([48.0, 7.85], 11); }
    window.addEventListener("gridcell:data", function (e) { drawLayers(map, group, pageData(e.detail), false); });
  }

  function areaMap(el) {
    var map = g.ensureMap(el);
    if (!map) { return; }
    var group = L.layerGroup().addTo(map);
    if (!drawLayers(map, group, pageData(), true)) { map.setView([48.0, 7.85], 11); }
    var input = document.getElementById("area");
    var count = document.getElementById("area-count");
    var corners = [];
    try { corners = JSON.parse(input.value || "[]"); } catch (e) { corners = []; }
    var shape = null;
    function redraw() {
      if (shape) { map.removeLayer(shape); }
      var latlngs = corners.map(function (p) { return [p[1], p[0]]; });
      shape = corners.length >= 3 ? L.polygon(latlngs, {color: g.COLORS.down, weight: 2}) :
        L.polyline(latlngs, {color: g.COLORS.down, weight: 2, dashArray: "4 3"});
      shape.addTo(map);
      input.value = corners.length ? JSON.stringify(corners) : "";
      count.textContent = corners.length ? corners.length + " corner(s)" + (corners.length < 3 ? ": add " +
        (3 - corners.length) + " more" : "") : "No area drawn.";
    }
    map.on("click", function (e) {
      corners.push([Math.round(e.latlng.lng * 1e6) / 1e6, Math.round(e.latlng.lat * 1e6) / 1e6]);
      redraw();
    });
    document.getElementById("area-clear").addEventListener("click", function () { corners = []; redraw(); });
    redraw();
  }

  var outage = document.getElementById("outage-map");
  if (outage) { liveMap(outage); }
  var mno = document.getElementById("mno-map");
  if (mno) { liveMap(mno); }
  var area = document.getElementById("area-map");
  if (area) { areaMap(area); }
}());
