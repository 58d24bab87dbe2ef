/* Altaviz pages: CSRF header for htmx, live-refresh etiquette, tabs, and the ECharts charts.
   Loaded as a static file (the CSP forbids inline script). Chart data comes from a data-json
   attribute of the element beside each chart ([data-for]), rendered by the server: htmx drops every
   <script> element of swapped content (allowScriptTags false), so a refreshed fragment carries its
   data in attributes. Chart elements are hx-preserve'd: a live refresh keeps each ECharts instance and
   updates it with setOption (zoom, legend choices and the tooltip survive the refresh).

   ECharts used (the custom ECharts bundle must contain exactly these):
     charts:     gauge, line, scatter
     components: geo (registerMap), grid, tooltip (axisPointer, trigger "axis" and "item"), legend,
                 markLine, markPoint, markArea, dataZoom (inside and slider), title
     API:        init, getInstanceByDom, connect, registerMap, format.encodeHTML, setOption, dispose,
                 resize; renderer: canvas */
(function () {
  "use strict";

  var COLORS = { healthy: "#2ca02c", warning: "#e8750a", critical: "#d62728", unknown: "#8a94a3",
    stale: "#5b4b8a", not_monitored: "#8a94a3" };
  var charts = [];
  var geoLoading = null;
  var selectedTabs = {};

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  function dataOf(el, kind) {
    // The data sits beside the chart's element (ECharts owns the element's children).
    var block = el.parentElement.querySelector('[data-for="' + kind + '"][data-json]');
    return block ? JSON.parse(block.getAttribute("data-json")) : null;
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

  // Charts whose element left the page are disposed of (no leaked canvases or listeners). Chart
  // elements are hx-preserve'd, so a live refresh keeps them: only a page change drops them.
  function sweepCharts() {
    charts = charts.filter(function (chart) {
      if (document.body.contains(chart.getDom())) { return true; }
      chart.dispose();
      return false;
    });
  }

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

  // --- tables as cards on a phone --------------------------------------------------------------------
  // Below 701 px app.css turns each table row into a card; every cell shows its column's name from
  // data-label, copied here from the header (columns whose header is only for screen readers get none).
  function labelCells(root) {
    var tables = [];
    if (root.closest && root.closest("table")) { tables.push(root.closest("table")); }
    if (root.querySelectorAll) { root.querySelectorAll("table").forEach(function (t) { tables.push(t); }); }
    tables.forEach(function (table) {
      var heads = [];
      table.querySelectorAll("thead th").forEach(function (th) {
        var hidden = th.querySelector(".sr-only");
        heads.push(hidden && hidden.textContent.trim() === th.textContent.trim() ? "" : th.textContent.trim());
      });
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        Array.prototype.forEach.call(tr.children, function (td, index) {
          if (heads[index] && !td.hasAttribute("data-label")) { td.setAttribute("data-label", heads[index]); }
        });
      });
    });
  }
  // Right after a swap, in the same task as the insertion (htmx:load comes only after the settle delay):
  // refreshed rows are never painted without their labels.
  document.addEventListener("htmx:afterSwap", function () { labelCells(document.body); });

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

  // --- numbers and times ------------------------------------------------------------------------------
  // Values carry their unit and thousands separators; times are shown in the organization's time
  // zone (<body data-tz>), with UTC beside them on hover.
  var formats = {};
  function num(value, decimals) {
    if (value === null || value === undefined || isNaN(value)) { return "--"; }
    var key = String(decimals);
    if (!formats[key]) {
      formats[key] = new Intl.NumberFormat("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    }
    return formats[key].format(value);
  }
  function withUnit(value, decimals, unit) {
    var text = num(value, decimals);
    return text === "--" ? text : text + " " + unit;
  }
  function zone() { return document.body.getAttribute("data-tz") || "UTC"; }
  var timeFormats = {};
  function timeIn(value, tz, withDate) {
    var key = tz + (withDate ? "|d" : "|t");
    if (!timeFormats[key]) {
      var options = { timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
      if (withDate) { options.month = "short"; options.day = "numeric"; options.timeZoneName = "short"; }
      timeFormats[key] = new Intl.DateTimeFormat("en-US", options);
    }
    return timeFormats[key].format(new Date(value));
  }
  function axisTime(value) {
    var d = new Date(value), tz = zone();
    var hm = timeIn(d, tz, false);
    if (hm === "00:00") {
      return new Intl.DateTimeFormat("en-US", { timeZone: tz, month: "short", day: "numeric" }).format(d);
    }
    return hm;
  }
  function hoverTime(value) {
    var utc = new Date(value).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    return zone() === "UTC" ? utc : timeIn(value, zone(), true) + " (" + utc + ")";
  }

  // --- alert actions ---------------------------------------------------------------------------------
  // After acknowledge / shelve / resolve / unshelve the server triggers "alerts-changed": the live
  // region refreshes at once (counts, tabs, cards), the message is announced (aria-live), and keyboard
  // focus goes to the next row (the acted row may leave the list) instead of the top of the page.
  var pendingFocus = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var row = elt && elt.closest ? elt.closest("tr[data-alert-id]") : null;
    if (!row || event.detail.requestConfig.verb === "get") { return; }
    var next = row.nextElementSibling || row.previousElementSibling;
    pendingFocus = { acted: row.getAttribute("data-alert-id"), next: next ? next.getAttribute("data-alert-id") : null };
  });
  function focusAfterAction() {
    if (!pendingFocus) { return; }
    var target = (pendingFocus.next && document.querySelector('tr[data-alert-id="' + pendingFocus.next + '"]')) ||
      document.querySelector('tr[data-alert-id="' + pendingFocus.acted + '"]') || document.querySelector("tr[data-alert-id]");
    if (!target) { return; }
    var control = target.querySelector("button, summary, a[href]");
    if (control) { control.focus({ preventScroll: false }); }
  }
  document.body.addEventListener("alerts-changed", function (event) {
    var box = document.getElementById("announcer");
    if (box && event.detail && event.detail.message) {
      box.textContent = "";
      window.setTimeout(function () { box.textContent = event.detail.message; }, 50);
    }
    focusAfterAction();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (!pendingFocus || !event.detail.target) { return; }
    if (event.detail.target.id === "live") { focusAfterAction(); pendingFocus = null; }
  });

  // --- live refresh health ----------------------------------------------------------------------------
  // A refresh that fails (network, 5xx) leaves the page as it was: a banner says since when the page is
  // stale and that it keeps retrying; the next good refresh takes it away.
  var freshSince = new Date();
  function liveFailed(event) {
    if (!event.detail.elt || event.detail.elt.id !== "live") { return false; }
    var banner = document.getElementById("stale-banner");
    if (banner) {
      banner.textContent = "Stale since " + timeIn(freshSince, zone(), true) + ": the last refresh failed, retrying every " +
        (banner.getAttribute("data-every") || "few") + " s.";
      banner.hidden = false;
    }
    document.body.setAttribute("data-stale", "true");
    return true;
  }
  document.addEventListener("htmx:responseError", liveFailed, true);
  document.addEventListener("htmx:sendError", liveFailed, true);
  document.addEventListener("htmx:timeout", liveFailed, true);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "live" || !event.detail.successful) { return; }
    freshSince = new Date();
    var banner = document.getElementById("stale-banner");
    if (banner) { banner.hidden = true; }
    document.body.removeAttribute("data-stale");
  });

  // --- charts ----------------------------------------------------------------------------------------
  var COLORS_BY_MARK = { opened: "#b42318", cleared: "#1a7f37", maintenance: "#5b4bb7" };

  // An element keeps its ECharts instance through live refreshes (hx-preserve): update it in place.
  function chartFor(el, group) {
    var chart = window.echarts.getInstanceByDom(el);
    if (!chart) {
      chart = window.echarts.init(el, null, { renderer: "canvas" });
      charts.push(chart);
      if (group) { chart.group = group; window.echarts.connect(group); }
    }
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
      var chart = chartFor(el);
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
            var text = esc(d.name) + "<br>" + num(d.compressors, 0) + " compressors · " + esc(d.label || d.status);
            if (d.alerts) { text += "<br>" + num(d.alerts, 0) + " active alerts"; }
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
          label: { show: true, position: "right", color: "#1c2430", formatter: function (p) {
            // The state in words beside every dot that is not healthy (colour alone tells not everyone).
            var name = String(p.data.id).replace("STATION-", "");
            return p.data.status === "healthy" ? name : name + " · " + (p.data.label || p.data.status);
          } }
        }]
      }, { replaceMerge: ["series"] });
      if (!el.hasAttribute("data-clickable")) {
        el.setAttribute("data-clickable", "true");
        chart.on("click", function (p) { if (p.data && p.data.id) { location.href = "/dashboard?station=" + encodeURIComponent(p.data.id); } });
      }
    });
  }

  function drawGauge(el) {
    var g = dataOf(el, "gauge");
    if (!g) { return; }
    var chart = chartFor(el);
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
        axisLabel: { distance: 12, fontSize: 9, color: "#5d6877", formatter: function (v) { return v >= 1000 ? num(v / 1000, v % 1000 ? 1 : 0) + "k" : num(v, 0); } },
        pointer: { width: 4, length: "60%", show: g.value !== null },
        detail: { valueAnimation: false, fontSize: 15, offsetCenter: [0, "35%"],
          formatter: function () { return withUnit(g.value, g.decimals, g.unit); } },
        data: [{ value: g.value === null ? g.min : g.value, name: "" }]
      }]
    }, { replaceMerge: ["series"] });
  }

  function trendMarks(ch) {
    // Alert openings and clearings of this chart's metric, and maintenance: vertical lines.
    return (ch.marks || []).map(function (m) {
      return { xAxis: m.at, name: m.text, lineStyle: { color: COLORS_BY_MARK[m.kind] || "#5d6877", type: m.kind === "maintenance" ? "dotted" : "solid", width: 1.5 },
        label: { show: false }, emphasis: { label: { show: true, formatter: m.text, position: "insideEndTop", color: COLORS_BY_MARK[m.kind] } } };
    });
  }

  // A metric's projected threshold crossing (early warning): the central projection as a dashed line
  // from the newest value to the threshold, each level's crossing as a point, and the 80 % range as a
  // cone between the fastest and the slowest crossing (two stacked series: base, then the width).
  // Series whose name starts with "_" draw the cone only: no legend, no tooltip line.
  function projectionSeries(ch) {
    var pr = ch.projection;
    if (!pr) { return []; }
    var tint = pr.levels.some(function (l) { return l.level === "critical"; }) ? COLORS.critical : COLORS.warning;
    var cone = { type: "line", stack: "cone", showSymbol: false, silent: true, lineStyle: { opacity: 0 }, tooltip: { show: false } };
    return [
      Object.assign({}, cone, { name: "_cone_base", data: pr.cone.map(function (p) { return [p[0], p[1]]; }) }),
      Object.assign({}, cone, { name: "_cone", data: pr.cone.map(function (p) { return [p[0], p[2] - p[1]]; }),
        areaStyle: { color: tint, opacity: 0.16 } }),
      { name: "projected", type: "line", showSymbol: false, data: [pr.from, pr.to],
        lineStyle: { color: tint, type: "dashed", width: 1.5 }, itemStyle: { color: tint },
        markPoint: { data: pr.levels.map(function (l) {
          var range = num(l.low, 0) + "–" + (l.high === null ? "?" : num(l.high, 0)) + " h";
          return { coord: [l.at, l.threshold], name: l.level, value: l.level, symbol: "circle", symbolSize: 9,
            itemStyle: { color: COLORS[l.level], borderColor: "#fff", borderWidth: 1 },
            label: { show: true, position: "top", fontSize: 10, color: COLORS[l.level],
              formatter: l.level + " in " + num(l.hours, 0) + " h (" + range + ")" } };
        }) } }
    ];
  }

  function drawTrend(el) {
    var ch = dataOf(el, "trend");
    if (!ch) { return; }
    var chart = chartFor(el, "trends");
    var lineNames = ch.line_names || { warning: "warning", critical: "critical" };
    var lines = [{ yAxis: ch.warning, name: lineNames.warning, lineStyle: { color: COLORS.warning, type: "dashed" },
      label: { formatter: lineNames.warning + " " + num(ch.warning, ch.decimals), color: COLORS.warning, position: "insideEndTop" } }];
    if (ch.critical !== null) {
      lines.push({ yAxis: ch.critical, name: lineNames.critical, lineStyle: { color: COLORS.critical, type: "dashed" },
        label: { formatter: lineNames.critical + " " + num(ch.critical, ch.decimals), color: COLORS.critical, position: "insideEndTop" } });
    }
    if (ch.now) {  // the axis runs past now (a projection): where the data ends
      lines.push({ xAxis: ch.now, name: "now", lineStyle: { color: "#5d6877", type: "dotted", width: 1 },
        label: { formatter: "now", color: "#5d6877", position: "insideEndTop", fontSize: 10 } });
    }
    var values = [];
    ch.points.forEach(function (p) { if (p[1] !== null) { values.push(p[1]); } if (p.length > 2 && p[2] !== null) { values.push(p[2]); } });
    values.push(ch.warning);
    if (ch.critical !== null) { values.push(ch.critical); }
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values), pad = (hi - lo) * 0.08 || 1;
    var yMin = ch.min !== undefined ? ch.min : Math.floor(lo - pad), yMax = ch.max !== undefined ? ch.max : Math.ceil(hi + pad);
    var series = [{
      name: ch.names[0], type: "line", showSymbol: ch.raw && ch.points.length < 60, symbolSize: 4,
      data: ch.points.map(function (p) { return [p[0], p[1]]; }),
      lineStyle: { color: "#1f77b4", width: 2 }, itemStyle: { color: "#1f77b4" }, areaStyle: { color: "rgba(31,119,180,.08)" },
      markLine: { silent: false, symbol: "none", data: lines.concat(trendMarks(ch)) },
      // hours not judged (the health index while learning or stopped): shaded and named
      markArea: { silent: true, itemStyle: { color: "rgba(138,148,163,.16)" },
        label: { position: "insideTop", fontSize: 10, color: "#5d6877" },
        data: (ch.areas || []).map(function (a) { return [{ xAxis: a.from, name: a.text }, { xAxis: a.to }]; }) }
    }];
    if (ch.names.length > 1) {
      series.push({ name: ch.names[1], type: "line", showSymbol: false,
        data: ch.points.map(function (p) { return [p[0], p[2]]; }), lineStyle: { color: "#9467bd", width: 1, type: "dotted" }, itemStyle: { color: "#9467bd" } });
    }
    series = series.concat(projectionSeries(ch));
    chart.setOption({
      animation: false,
      useUTC: true,
      grid: { left: 56, right: 14, top: 28, bottom: 52 },
      legend: { top: 0, right: 0, itemWidth: 16, itemHeight: 8, textStyle: { fontSize: 11 }, data: ch.names },
      tooltip: {
        trigger: "axis", axisPointer: { type: "cross", label: { formatter: function (p) {
          return p.axisDimension === "x" ? hoverTime(p.value) : num(p.value, ch.decimals);
        } } },
        formatter: function (items) {
          if (!items.length) { return ""; }
          var esc = window.echarts.format.encodeHTML;
          var text = esc(hoverTime(items[0].value[0]));
          items.forEach(function (it) {
            if (it.seriesName.charAt(0) === "_") { return; }
            text += "<br>" + it.marker + esc(it.seriesName) + ": " + esc(withUnit(it.value[1], ch.decimals, ch.unit));
          });
          return text;
        }
      },
      xAxis: { type: "time", min: ch.start, max: ch.end, name: zone(), nameLocation: "middle", nameGap: 20,
        nameTextStyle: { fontSize: 10, color: "#5d6877" },
        axisLabel: { hideOverlap: true, fontSize: 10, formatter: axisTime } },
      yAxis: { type: "value", min: yMin, max: yMax, name: ch.unit, nameGap: 8,
        nameTextStyle: { fontSize: 10, color: "#5d6877", align: "left" },
        axisLabel: { fontSize: 10, showMinLabel: false, showMaxLabel: false, formatter: function (v) { return num(v, 0); } },
        splitLine: { lineStyle: { color: "#eef1f5" } } },
      dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "none" },
        { type: "slider", xAxisIndex: 0, height: 14, bottom: 6, filterMode: "none", showDetail: false, brushSelect: false }],
      series: series
    }, { replaceMerge: ["series"] });
  }

  function draw(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll('[data-chart="map"]').forEach(drawMap);
    root.querySelectorAll('[data-chart="gauge"]').forEach(drawGauge);
    root.querySelectorAll('[data-chart="trend"]').forEach(drawTrend);
  }

  function onLoad(root) { sweepCharts(); labelCells(root); setupTabs(root); draw(root); }

  // htmx calls this for the page once and for every piece of content it swaps in later.
  document.addEventListener("htmx:load", function (event) {
    onLoad(event.detail.elt);
    document.body.setAttribute("data-ready", "true");
  });
})();
