/* Fleet registry and thresholds settings pages: forms that call the JSON API with typed values,
   the thresholds table, and the import (dry run first, then the import itself).
   A static file (the CSP forbids inline script); answers are shown with textContent only. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  function headers(contentType) {
    var h = { "Accept": "application/json" };
    var token = csrfToken();
    if (token) { h["X-CSRF-Token"] = token; }
    if (contentType) { h["Content-Type"] = contentType; }
    return h;
  }

  function show(form, text, ok) {
    var slot = form.querySelector("[data-result]");
    if (slot) { slot.textContent = text; slot.className = ok ? "result ok" : "result error-text"; }
  }

  function call(method, url, body, contentType) {
    var init = { method: method, headers: headers(contentType), credentials: "same-origin" };
    if (body !== undefined) { init.body = body; }
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function failure(answer) {
    if (answer.status === 401) { return "Your session ended: sign in again."; }
    return (answer.data && answer.data.error) || ("Failed (" + answer.status + ")");
  }

  function typed(input) {
    var value = input.value.trim();
    if (value === "") { return input.dataset.empty === "null" ? null : undefined; }
    if (input.type === "number" || input.dataset.kind === "number" || input.dataset.kind === "int") {
      var number = Number(value);
      return isNaN(number) ? value : number;  // the API names a value that is not a number
    }
    return value;
  }

  // --- <form data-registry="METHOD /api/..."> -----------------------------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-registry]") : null;
    if (!form) { return; }
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { return; }
    var parts = form.dataset.registry.split(" ");
    var method = parts[0], url = parts[1];
    var body = form.dataset.body ? JSON.parse(form.dataset.body) : {};
    form.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (input) {
      var value = typed(input);
      if (value !== undefined) { body[input.name] = value; }
    });
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    show(form, "Working…", true);
    var payload = method === "DELETE" ? undefined : JSON.stringify(body);
    call(method, url, payload, payload === undefined ? null : "application/json").then(function (answer) {
      if (button) { button.disabled = false; }
      if (!answer.ok) { show(form, failure(answer), false); return; }
      if (answer.data && answer.data.outcome === "archived") {
        window.alert(answer.data.compressor_id + " was archived: its data is kept and it can be restored from the Archived list.");
      }
      window.location.reload();
    }).catch(function () {
      if (button) { button.disabled = false; }
      show(form, "The service did not answer; check the connection and try again.", false);
    });
  });

  // --- thresholds: <form data-thresholds="/api/thresholds?scope=..."> --------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-thresholds]") : null;
    if (!form) { return; }
    event.preventDefault();
    var metrics = {};
    form.querySelectorAll("input[name]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
      var value = typed(input);
      if (value === undefined || value === null) { return; }
      var name = input.name.split(".");
      metrics[name[0]] = metrics[name[0]] || {};
      metrics[name[0]][name[1]] = value;
    });
    show(form, "Saving…", true);
    call("PUT", form.dataset.thresholds, JSON.stringify({ metrics: metrics }), "application/json").then(function (answer) {
      if (answer.ok) { window.location.reload(); return; }
      show(form, failure(answer), false);
      var errors = answer.data && answer.data.errors;
      if (errors && errors.length) {
        var field = String(errors[0].parameter || "").replace(/^metrics\./, "");
        var input = form.querySelector('input[name="' + field.replace(/"/g, "") + '"]');
        if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
      }
    }).catch(function () {
      show(form, "The service did not answer; check the connection and try again.", false);
    });
  });

  // --- import: check the file (dry run), then import it ----------------------------------------------
  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function describe(changes) {
    return changes.map(function (c) {
      return c.entity + " " + c.id + " " + c.action + (c.fields && c.fields.length ? " (" + c.fields.join(", ") + ")" : "");
    }).join("; ");
  }

  function counts(name, c) {
    return name + ": " + c.created + " new, " + c.changed + " changed, " + c.unchanged + " unchanged";
  }

  function render(box, result) {
    box.replaceChildren();
    var summary = document.createElement("p");
    summary.className = result.refused ? "notice" : "notice";
    summary.setAttribute("data-field", result.dry_run ? "dry-run-summary" : "import-summary");
    summary.textContent = (result.dry_run ? "Dry run — nothing was changed. " : "Imported. ") +
      result.rows + " rows: " + result.accepted + " " + (result.dry_run ? "would apply" : "applied") + ", " +
      result.refused + " refused. " + [counts("Stations", result.stations), counts("Models", result.models),
        counts("Compressors", result.compressors)].join(" · ") + ".";
    box.appendChild(summary);
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    var table = document.createElement("table");
    table.className = "table";
    table.setAttribute("data-table", "import-rows");
    var head = document.createElement("tr");
    ["Row", "Outcome", "What"].forEach(function (t) { var th = document.createElement("th"); th.textContent = t; head.appendChild(th); });
    var thead = document.createElement("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = document.createElement("tbody");
    result.results.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-row", r.row);
      tr.setAttribute("data-status", r.status);
      cell(tr, String(r.row));
      cell(tr, r.status === "ok" ? (result.dry_run ? "would apply" : "applied") : "refused").className = r.status === "ok" ? "" : "error-text";
      cell(tr, r.status === "ok" ? describe(r.changes) : (r.field ? r.field + ": " : "") + r.reason);
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    box.appendChild(wrap);
  }

  function mediaType(file) {
    return /\.parquet$/i.test(file.name) ? "application/vnd.apache.parquet" : "text/csv";
  }

  function setupImport(form) {
    var box = document.getElementById("import-result");
    var commit = form.querySelector('[data-step="commit"]');
    var input = form.querySelector('input[type="file"]');
    var checked = null;

    function send(dryRun) {
      var file = input.files && input.files[0];
      if (!file) { show(form, "Choose a file first.", false); return; }
      show(form, dryRun ? "Checking…" : "Importing…", true);
      commit.disabled = true;
      call("POST", form.dataset.import + "?dry_run=" + dryRun, file, mediaType(file)).then(function (answer) {
        if (!answer.ok) { show(form, failure(answer), false); commit.hidden = true; return; }
        render(box, answer.data);
        if (dryRun) {
          checked = file;
          commit.hidden = answer.data.accepted === 0;
          commit.disabled = false;
          commit.textContent = "Import " + answer.data.accepted + " row" + (answer.data.accepted === 1 ? "" : "s");
          show(form, "Checked: review the rows below, then import.", true);
        } else {
          commit.hidden = true;
          show(form, "Done. ", true);
          var again = document.createElement("a");
          again.href = window.location.pathname;
          again.textContent = "Reload the registry";
          form.querySelector("[data-result]").appendChild(again);
        }
      }).catch(function () {
        commit.disabled = false;
        show(form, "The service did not answer; check the connection and try again.", false);
      });
    }

    form.addEventListener("submit", function (event) { event.preventDefault(); send(true); });
    input.addEventListener("change", function () { commit.hidden = true; checked = null; box.replaceChildren(); });
    commit.addEventListener("click", function () {
      if (checked !== (input.files && input.files[0])) { show(form, "Check the file first.", false); return; }
      send(false);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("fleet-import");
    if (form) { setupImport(form); }
  });
})();
