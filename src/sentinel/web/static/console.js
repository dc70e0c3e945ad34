// The console's behaviour: charts (ECharts, served by the daemon) and live updates (server-sent
// events). Data comes from <script type="application/json"> blocks and the event stream; text is
// only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var COLORS = { blue: "#1e6fd9", yellow: "#d9a400", orange: "#e8620c", red: "#d21f2b" };

  function json(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  var words = json("words") || {};
  var charts = {};

  function chart(id) {
    var el = document.getElementById(id);
    if (!el || typeof echarts === "undefined") return null;
    if (!charts[id]) charts[id] = echarts.init(el, null, { renderer: "canvas" });
    return charts[id];
  }

  function lines(id, watches, pick) {
    var c = chart(id);
    if (!c) return;
    var el = document.getElementById(id);
    c.setOption({
      title: { text: el.getAttribute("data-title"), textStyle: { fontSize: 13 } },
      tooltip: { trigger: "axis" },
      legend: { top: 22, type: "scroll" },
      grid: { top: 56, left: 48, right: 16, bottom: 28 },
      xAxis: { type: "time" },
      yAxis: { type: "value" },
      series: watches.map(function (w) {
        var data = pick(w);
        // a few points (a quiet watch, a fresh start) draw as dots, or nothing would show
        return { name: w.watch, type: "line", showSymbol: data.length < 40, symbolSize: 5, data: data };
      })
    }, true);
  }

  function drawOverview(data) {
    var ws = data.watches;
    lines("chart-volume-24h", ws, function (w) { return w.day.map(function (b) { return [b[0], b[1]]; }); });
    lines("chart-share-24h", ws, function (w) {
      return w.day.map(function (b) { return [b[0], b[1] ? Math.round(1000 * b[2] / b[1]) / 10 : 0]; });
    });
    lines("chart-volume-7d", ws, function (w) { return w.week.map(function (b) { return [b[0], b[1]]; }); });
    lines("chart-risk-7d", ws, function (w) { return w.risk_points; });
    var sov = chart("chart-sov");
    if (sov) {
      var el = document.getElementById("chart-sov");
      sov.setOption({
        title: { text: el.getAttribute("data-title"), textStyle: { fontSize: 13 } },
        tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
        series: [{
          type: "pie", radius: ["35%", "65%"], top: 24,
          data: ws.map(function (w) {
            return { name: w.watch, value: w.week.reduce(function (s, b) { return s + b[1]; }, 0) };
          })
        }]
      }, true);
    }
  }

  function updateRows(data) {
    data.watches.forEach(function (w) {
      var row = document.querySelector('tr[data-watch="' + CSS.escape(w.watch) + '"]');
      if (!row) return;
      var badge = row.querySelector(".level .badge");
      badge.className = "badge " + (w.level || "quiet");
      badge.textContent = w.level ? (words[w.level] || w.level) : (words.quiet || "");
      row.querySelector(".risk").textContent = w.risk;
      row.querySelector(".posts").textContent = w.posts_24h;
      row.querySelector(".share").textContent =
        w.posts_24h ? Math.round(100 * w.negative_24h / w.posts_24h) + "%" : "–";
      var cell = row.querySelector(".link");
      cell.textContent = "";
      if (w.alert_id) {
        var a = document.createElement("a");
        a.href = "/alerts/" + encodeURIComponent(w.alert_id);
        a.textContent = "#" + w.alert_id;
        a.className = "alert-link";
        cell.appendChild(a);
      }
    });
  }

  function overview() {
    var data = json("overview-data");
    if (!data) return;
    drawOverview(data);
    var seen = data.latest_alert;
    if (!window.EventSource) return;
    var source = new EventSource("/events");
    source.addEventListener("overview", function (msg) {
      var fresh = JSON.parse(msg.data);
      updateRows(fresh);
      drawOverview(fresh);
      if (fresh.latest_alert > seen) {
        var box = document.getElementById("new-alerts");
        fresh.watches.forEach(function (w) {
          if (w.alert_id && w.alert_id > seen && !document.getElementById("new-alert-" + w.alert_id)) {
            var a = document.createElement("a");
            a.id = "new-alert-" + w.alert_id;
            a.href = "/alerts/" + encodeURIComponent(w.alert_id);
            a.textContent = "#" + w.alert_id + " " + w.watch + " · " + (words[w.level] || w.level);
            box.appendChild(a);
          }
        });
        seen = fresh.latest_alert;
      }
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  function timeline() {
    var data = json("timeline-data");
    var c = chart("chart-timeline");
    if (!data || !c) return;
    var t = data.thresholds;
    var bands = [["blue", t.blue, t.yellow], ["yellow", t.yellow, t.orange], ["orange", t.orange, t.red], ["red", t.red, 100]];
    c.setOption({
      tooltip: { trigger: "axis" },
      grid: { top: 16, left: 40, right: 16, bottom: 28 },
      xAxis: { type: "time", minInterval: 60000 },
      yAxis: { type: "value", min: 0, max: 100 },
      series: [{
        type: "line", step: "end", symbolSize: 7, data: data.points.map(function (p) { return [p[0], p[1]]; }),
        markArea: {
          silent: true,
          data: bands.map(function (b) {
            return [{ yAxis: b[1], itemStyle: { color: COLORS[b[0]], opacity: 0.12 } }, { yAxis: b[2] }];
          })
        }
      }]
    });
  }

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
  });
  overview();
  timeline();
})();
