/* Altaviz pages: CSRF header for htmx, live-refresh etiquette, tabs, and the ECharts charts.
   Loaded as a static file (the CSP forbids inline script); chart data comes from
   <script type="application/json"> blocks rendered by the server. */
(function () {
  "use strict";

  var COLORS = { healthy: "#2ca02c", warning: "#e8750a", critical: "#d62728", unknown: "#8a94a3" };
  var charts = [];
  var geoLoading = null;
  var selectedTabs = {};

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  function dataOf(el, kind) {
    // The data block sits beside the chart's element (ECharts owns the element's children).
    var block = el.parentElement.querySelector('script[type="application/json"][data-for="' + kind + '"]');
    return block ? JSON.parse(block.textContent) : null;
  }

  // --- htmx ------------------------------------------------------------------------------------------
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token && event.detail.verb !== "get") { event.detail.headers["X-CSRF-Token"] = token; }
  });

  // An action that failed (role, session, database) says why instead of doing nothing.
  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    window.clearTimeout(toast.timer);
    toast.timer = window.setTimeout(function () { box.hidden = true; }, 8000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.elt && event.detail.elt.id === "live") { return; }  // a refresh: the next tick retries
    var xhr = event.detail.xhr;
    var text = "The request failed (" + xhr.status + ").";
    try { text = JSON.parse(xhr.responseText).error || text; } catch (ignored) { /* not JSON */ }
    if (xhr.status === 401) { text = "Your session ended: sign in again."; }
    toast(text);
  });

  document.addEventListener("htmx:sendError", function (event) {
    if (event.detail.elt && event.detail.elt.id === "live") { return; }  // the next tick retries
    toast("The service did not answer; check the connection and try again.");
  });

  // A polling refresh must not wipe what someone is typing or a form they opened: skip that tick.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "live") { return; }
    if (document.hidden) { event.preventDefault(); return; }  // nobody is looking: no load
    var active = document.activeElement;
    var typing = active && elt.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
    if (typing || elt.querySelector("details[open]")) { event.preventDefault(); }
  });

  // Charts in content about to be replaced are disposed of (no leaked canvases or listeners).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    charts = charts.filter(function (chart) {
      var dom = chart.getDom();
      if (target && target.contains(dom)) { chart.dispose(); return false; }
      return true;
    });
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

  // --- forms that call the JSON API (team, billing, invitations) -------------------------------------
  // <form data-api="METHOD /api/path">: the fields go as a JSON body with the CSRF header. On success
  // data-follow="url" sends the browser to the answer's url (Stripe), data-then to a page of ours;
  // otherwise the settings section reloads and data-done is shown. Errors show the API's sentence.
  function showResult(form, text, ok) {
    var slot = form.querySelector("[data-result]");
    if (slot) { slot.textContent = text; slot.className = ok ? "result ok" : "result error-text"; }
  }

  function flash(text, secret) {
    var area = document.getElementById("settings-flash");
    if (!area) { return; }
    var box = document.createElement("div");
    box.className = "notice";
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    if (secret) {
      var code = document.createElement("code");
      code.className = "secret";
      code.setAttribute("data-field", "new-key");
      code.textContent = secret;
      box.appendChild(code);
    }
    area.replaceChildren(box);
    area.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-api]") : null;
    if (!form) { return; }
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { return; }
    var parts = form.dataset.api.split(" ");
    var method = parts[0], url = parts[1];
    var body = {};
    new FormData(form).forEach(function (value, key) { if (value !== "") { body[key] = value; } });
    var headers = { "Accept": "application/json" };
    var token = csrfToken();
    if (token) { headers["X-CSRF-Token"] = token; }
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (method !== "DELETE") { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    showResult(form, "Working…", true);
    fetch(url, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) { return [response, data]; });
    }).then(function (pair) {
      var response = pair[0], data = pair[1];
      if (button) { button.disabled = false; }
      if (!response.ok) { showResult(form, data.error || ("Failed (" + response.status + ")"), false); return; }
      if (form.dataset.follow === "url" && data.url) { window.location.assign(data.url); return; }
      if (form.dataset.then) { window.location.assign(form.dataset.then); return; }
      var message = form.dataset.done || "Done.", secret = null;
      if (data.key) {
        message = "API key “" + data.name + "” created. Copy it now — it is shown only once:";
        secret = data.key;
      } else if (data.accept_url) {
        message = "Invitation created for " + data.email + ". This server sends no e-mail: give them this single-use link yourself: " + data.accept_url;
      } else if (data.email_sent) {
        message = "Invitation e-mailed to " + data.email + ".";
      }
      if (document.getElementById("settings") && window.htmx) {
        window.htmx.ajax("GET", "/dashboard/settings", { target: "#settings", swap: "outerHTML" }).then(function () { flash(message, secret); });
      } else {
        showResult(form, message, true);
      }
    }).catch(function () {
      if (button) { button.disabled = false; }
      showResult(form, "The service did not answer; check the connection and try again.", false);
    });
  });

  // --- tabs ------------------------------------------------------------------------------------------
  function setupTabs(root) {
    root.querySelectorAll("[data-tabs]").forEach(function (box) {
      var tabs = box.querySelectorAll('[role="tab"]');
      function select(id) {
        tabs.forEach(function (tab) {
          var on = tab.id === id;
          tab.setAttribute("aria-selected", on ? "true" : "false");
          var panel = document.getElementById(tab.getAttribute("aria-controls"));
          if (panel) { panel.hidden = !on; }
        });
      }
      tabs.forEach(function (tab) {
        tab.addEventListener("click", function () { selectedTabs[location.pathname] = tab.id; select(tab.id); });
      });
      if (selectedTabs[location.pathname]) { select(selectedTabs[location.pathname]); }
    });
  }

  // --- charts ----------------------------------------------------------------------------------------
  function track(el) {
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    charts.push(chart);
    return chart;
  }

  function drawMap(el) {
    var points = dataOf(el, "map") || [];
    if (!geoLoading) {
      geoLoading = fetch(el.getAttribute("data-geo"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (geo) { window.echarts.registerMap("region", geo); });
    }
    geoLoading.then(function () {
      if (!document.body.contains(el)) { return; }
      var chart = track(el);
      var lons = points.map(function (p) { return p.value[0]; });
      var lats = points.map(function (p) { return p.value[1]; });
      // Texas at least (the demo basins), widened to every station with a margin.
      var pad = 1.2;
      var bounds = [[Math.min.apply(null, lons.concat([-106.7 + pad])) - pad, Math.max.apply(null, lats.concat([36.6 - pad])) + pad],
        [Math.max.apply(null, lons.concat([-93.5 - pad])) + pad, Math.min.apply(null, lats.concat([25.8 + pad])) - pad]];
      chart.setOption({
        animation: false,
        tooltip: {
          trigger: "item",
          formatter: function (p) {
            if (!p.data || !p.data.id) { return p.name; }
            var d = p.data, esc = window.echarts.format.encodeHTML;  // names are data: escape them
            var text = esc(d.name) + "<br>" + d.compressors + " compressors · " + esc(d.status);
            if (d.alerts) { text += "<br>" + d.alerts + " active alerts"; }
            if (d.worst.length) { text += "<br>" + esc(d.worst.join(", ")); }
            return text;
          }
        },
        geo: {
          map: "region", roam: false, boundingCoords: bounds, silent: true,
          itemStyle: { areaColor: "#eef2f6", borderColor: "#9fb0c3" },
          label: { show: false }
        },
        series: [{
          type: "scatter", coordinateSystem: "geo", symbolSize: 20,
          data: points.map(function (p) {
            return Object.assign({}, p, { itemStyle: { color: COLORS[p.status] || COLORS.unknown, borderColor: "#fff", borderWidth: 2 } });
          }),
          label: { show: true, position: "right", formatter: function (p) { return String(p.data.id).replace("STATION-", ""); }, color: "#1c2430" }
        }]
      });
      chart.on("click", function (p) { if (p.data && p.data.id) { location.href = "/dashboard?station=" + encodeURIComponent(p.data.id); } });
    });
  }

  function drawGauge(el) {
    var g = dataOf(el, "gauge");
    var chart = track(el);
    var span = g.max - g.min;
    var stops;
    function at(v) { return Math.max(0, Math.min(1, (v - g.min) / span)); }
    if (g.direction === "high") {
      stops = [[at(g.warning), COLORS.healthy]];
      if (g.critical !== null) { stops.push([at(g.critical), COLORS.warning], [1, COLORS.critical]); }
      else { stops.push([1, COLORS.warning]); }
    } else {
      stops = [];
      if (g.critical !== null) { stops.push([at(g.critical), COLORS.critical]); }
      stops.push([at(g.warning), COLORS.warning], [1, COLORS.healthy]);
    }
    chart.setOption({
      animation: false,
      series: [{
        type: "gauge", min: g.min, max: g.max, startAngle: 200, endAngle: -20, radius: "100%", center: ["50%", "62%"],
        axisLine: { lineStyle: { width: 10, color: stops } },
        splitNumber: 4, axisTick: { show: false }, splitLine: { length: 6, lineStyle: { width: 1 } },
        axisLabel: { distance: 12, fontSize: 9, color: "#5d6877", formatter: function (v) { return v >= 1000 ? (Math.round(v / 100) / 10) + "k" : String(Math.round(v)); } },
        pointer: { width: 4, length: "60%" },
        detail: { valueAnimation: false, fontSize: 16, offsetCenter: [0, "35%"],
          formatter: function (v) { return g.value === null ? "--" : v.toFixed(g.decimals); } },
        data: [{ value: g.value === null ? g.min : g.value }]
      }]
    });
  }

  function drawTrend(el) {
    var ch = dataOf(el, "trend");
    var chart = track(el);
    var lines = [{ yAxis: ch.warning, name: "warning", lineStyle: { color: COLORS.warning, type: "dashed" },
      label: { formatter: "warning " + ch.warning, color: COLORS.warning, position: "insideEndTop" } }];
    if (ch.critical !== null) {
      lines.push({ yAxis: ch.critical, name: "critical", lineStyle: { color: COLORS.critical, type: "dashed" },
        label: { formatter: "critical " + ch.critical, color: COLORS.critical, position: "insideEndTop" } });
    }
    var values = [];
    ch.points.forEach(function (p) { if (p[1] !== null) { values.push(p[1]); } if (p[2] !== null) { values.push(p[2]); } });
    values.push(ch.warning);
    if (ch.critical !== null) { values.push(ch.critical); }
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values), pad = (hi - lo) * 0.08 || 1;
    chart.setOption({
      animation: false,
      useUTC: true,  // the page states times in UTC; so do the axes
      grid: { left: 48, right: 12, top: 16, bottom: 28 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null || v === undefined ? "--" : v.toFixed(ch.decimals + 1) + " " + ch.unit; } },
      xAxis: { type: "time", axisLabel: { hideOverlap: true, fontSize: 10 } },
      yAxis: { type: "value", min: Math.floor(lo - pad), max: Math.ceil(hi + pad), axisLabel: { fontSize: 10, showMinLabel: false, showMaxLabel: false }, splitLine: { lineStyle: { color: "#eef1f5" } } },
      series: [
        { name: "mean", type: "line", showSymbol: false, data: ch.points.map(function (p) { return [p[0], p[1]]; }),
          lineStyle: { color: "#1f77b4", width: 2 }, areaStyle: { color: "rgba(31,119,180,.08)" },
          markLine: { silent: true, symbol: "none", data: lines } },
        { name: ch.direction === "high" ? "max" : "min", type: "line", showSymbol: false,
          data: ch.points.map(function (p) { return [p[0], p[2]]; }), lineStyle: { color: "#9467bd", width: 1, type: "dotted" } }
      ]
    });
  }

  function draw(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll('[data-chart="map"]').forEach(drawMap);
    root.querySelectorAll('[data-chart="gauge"]').forEach(drawGauge);
    root.querySelectorAll('[data-chart="trend"]').forEach(drawTrend);
  }

  function onLoad(root) { setupTabs(root); draw(root); }

  // htmx calls this for the page once and for every piece of content it swaps in later.
  document.addEventListener("htmx:load", function (event) {
    onLoad(event.detail.elt);
    document.body.setAttribute("data-ready", "true");
  });
})();
