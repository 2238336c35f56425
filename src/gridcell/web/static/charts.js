/* gridcell console charts (uPlot, vendored): a site's availability and latency per hour and PLMN, from the JSON
   the page carries (#chart-data). The tables beside them hold the same facts for screen readers. */
(function () {
  "use strict";
  if (typeof uPlot === "undefined") { return; }
  var el = document.getElementById("chart-data");
  var data;
  try { data = JSON.parse(el ? el.textContent : "{}"); } catch (e) { return; }
  if (!data.x || !data.x.length) { return; }
  var PALETTE = ["#0b57a4", "#a84300", "#6a1b9a", "#1b6320"];
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  var ink = dark ? "#e6edf3" : "#1c2430";
  var grid = dark ? "#2f3d4f" : "#e3e7ec";

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function utc(ts) {  // the console shows UTC everywhere
    var d = new Date(ts * 1000);
    var hh = ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2);
    return d.getUTCHours() === 0 && d.getUTCMinutes() === 0 ? d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] : hh;
  }

  function draw(id, key, unit, range) {
    var box = document.getElementById(id);
    if (!box) { return; }
    var series = [{}];
    var columns = [data.x];
    data.plmns.forEach(function (p, i) {
      series.push({label: "PLMN " + p.plmn, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false,
                   value: function (u, v) { return v == null ? "—" : v.toFixed(key === "rtt" ? 0 : 2) + unit; }});
      columns.push(p[key]);
    });
    var axis = {stroke: ink, grid: {stroke: grid}, ticks: {stroke: grid}};
    var opts = {width: Math.max(280, box.clientWidth), height: 220, series: series,
                tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
                scales: {x: {time: true}, y: range ? {range: range} : {}},
                axes: [Object.assign({}, axis, {values: function (u, vals) { return vals.map(utc); }}),
                       Object.assign({}, axis, {size: 64, values: function (u, vals) {
                         return vals.map(function (v) { return v + unit; });
                       }})]};
    var plot = new uPlot(opts, columns, box);
    box.setAttribute("data-drawn", String(data.x.length));
    window.addEventListener("resize", function () { plot.setSize({width: Math.max(280, box.clientWidth), height: 220}); });
  }

  draw("chart-availability", "availability", " %", function (u, lo) { return [Math.min(lo == null ? 99 : lo, 99), 100]; });
  draw("chart-rtt", "rtt", " ms", null);
}());
