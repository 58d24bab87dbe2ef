/* The data page: a file of readings is checked by POST /api/ingest/readings?dry_run=true, the summary
   and the refused rows are shown, and only "Store" sends it for real (with an Idempotency-Key, so a
   double click or a retry stores it once). Loaded as a static file: the CSP forbids inline script. */
(function () {
  "use strict";

  var zone = document.getElementById("upload");
  if (!zone) { return; }
  var input = document.getElementById("upload-file");
  var status = document.getElementById("upload-status");
  var result = document.getElementById("upload-result");
  var commit = document.getElementById("upload-commit");
  var cancel = document.getElementById("upload-cancel");
  var maxBytes = parseInt(zone.getAttribute("data-max-bytes"), 10);
  var slug = zone.getAttribute("data-slug");
  var current = null;  // {file, type, key}

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function field(name) { return result.querySelector('[data-field="' + name + '"]'); }

  function say(text, kind) {
    status.textContent = text;
    status.className = "upload-status" + (kind ? " " + kind : "");
  }

  function tooBig(detail) {
    return detail + " Use the API in batches (POST /api/ingest/readings) or, on the server, " +
      "altaviz ingest FILE --organization " + slug + ".";
  }

  function typeOf(file) {
    var name = file.name.toLowerCase();
    if (/\.csv$/.test(name)) { return "text/csv"; }
    if (/\.parquet$/.test(name)) { return "application/vnd.apache.parquet"; }
    return null;
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return "upload-" + window.crypto.randomUUID(); }
    return "upload-" + Date.now() + "-" + Math.random().toString(16).slice(2);
  }

  function reset() {
    current = null;
    result.hidden = true;
    commit.hidden = true;
    cancel.hidden = true;
    input.value = "";
  }

  function send(dryRun) {
    var headers = { "Content-Type": current.type, "X-CSRF-Token": csrfToken() };
    if (!dryRun) { headers["Idempotency-Key"] = current.key; }
    return fetch("/api/ingest/readings" + (dryRun ? "?dry_run=true" : ""), {
      method: "POST", headers: headers, body: current.file, credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  function show(answer, dryRun) {
    var body = answer.body;
    field("file").textContent = current.file.name;
    field("rows").textContent = body.rows.toLocaleString();
    field("accepted").textContent = body.accepted.toLocaleString();
    field("refused").textContent = body.refused.toLocaleString();
    var ignored = field("ignored");
    ignored.hidden = !body.ignored_columns.length;
    ignored.textContent = "Columns ignored (not reading columns): " + body.ignored_columns.join(", ");
    var table = document.getElementById("refused-rows");
    var rows = table.querySelector("tbody");
    rows.textContent = "";
    body.refused_rows.forEach(function (row) {
      var tr = document.createElement("tr");
      [["Row", String(row.row)], ["Compressor", row.compressor_id || ""], ["Timestamp", row.timestamp || ""],
       ["Reason", row.reason]].forEach(function (cell) {
        var td = document.createElement("td");
        td.setAttribute("data-label", cell[0]);
        td.textContent = cell[1];
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    table.hidden = !body.refused_rows.length;
    field("shown").textContent = body.refused_rows_truncated
      ? "(the first " + body.refused_rows.length + " of " + body.refused.toLocaleString() + ")" : "";
    result.hidden = false;
    cancel.hidden = false;
    if (dryRun && body.accepted > 0) {
      commit.hidden = false;
      commit.disabled = false;
      commit.textContent = "Store " + body.accepted.toLocaleString() + " readings" +
        (body.refused ? " (refuse " + body.refused.toLocaleString() + ")" : "");
      say("Checked, nothing stored yet. Review the refused rows, then store the accepted readings.", "");
    } else if (dryRun) {
      commit.hidden = true;
      say("No reading in this file can be stored: fix the refused rows and upload it again.", "error");
    } else {
      commit.hidden = true;
      say("Stored " + body.accepted.toLocaleString() + " readings. They appear on the dashboard after the " +
        "pipeline's next pass.", "ok");
    }
  }

  function failed(answer) {
    var message = (answer.body && answer.body.error) || ("The upload failed (" + answer.status + ").");
    if (answer.status === 413) { message = tooBig(message); }
    if (answer.status === 401) { message = "Your session ended: sign in again."; }
    say(message, "error");
  }

  function check(file) {
    reset();
    var type = typeOf(file);
    if (!type) { say("Choose a .csv or .parquet file (" + file.name + " is neither).", "error"); return; }
    if (file.size > maxBytes) {
      say(tooBig("This file is " + (file.size / 1048576).toFixed(1) + " MB; the page takes up to " +
        Math.round(maxBytes / 1048576) + " MB."), "error");
      return;
    }
    current = { file: file, type: type, key: newKey() };
    say("Checking " + file.name + "…", "");
    send(true).then(function (answer) {
      if (answer.body && typeof answer.body.rows === "number") { show(answer, true); } else { failed(answer); }
    }, function () { say("The service did not answer; check the connection and try again.", "error"); });
  }

  commit.addEventListener("click", function () {
    if (!current) { return; }
    commit.disabled = true;
    say("Storing…", "");
    send(false).then(function (answer) {
      if (answer.status === 200) { show(answer, false); } else { commit.disabled = false; failed(answer); }
    }, function () {
      commit.disabled = false;  // retried with the same Idempotency-Key: stored at most once
      say("The service did not answer; press Store again (it will not store twice).", "error");
    });
  });

  cancel.addEventListener("click", function () { reset(); say("", ""); });
  input.addEventListener("change", function () { if (input.files.length) { check(input.files[0]); } });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    var files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) { check(files[0]); }
  });
})();
