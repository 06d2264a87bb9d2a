// Rule, campaign and flow editors: add and remove rows, offer the operators that fit a field,
// show the settings an action type takes. Plain DOM, no framework; forms still post plain fields.
(function () {
  "use strict";

  function fillOps(row, fields) {
    var field = row.querySelector(".cond-field").value;
    var opSelect = row.querySelector(".cond-op");
    var wanted = opSelect.dataset.selected || opSelect.value;
    var spec = fields.find(function (f) { return f.name === field; });
    opSelect.innerHTML = "";
    (spec ? spec.ops : []).forEach(function (op) {
      var option = document.createElement("option");
      option.value = op.op; option.textContent = op.label;
      if (op.op === wanted) { option.selected = true; }
      opSelect.appendChild(option);
    });
    opSelect.dataset.selected = "";
    renderValue(row, spec);
  }

  // The value is picked, not typed, where the field allows: stores, tags, tiers and choices from a
  // list (several for "any of"), dates from a calendar, "in the last N days" as a number. The
  // picker writes the form's own value field, so the form posts the same as before.
  var NO_VALUE = ["is_empty", "not_empty", "is_true", "is_false"];
  var MULTI = ["in", "not_in", "has_any", "has_all", "has_none"];
  var DAYS = ["within_last", "not_within_last", "within_next", "anniversary_within_next"];

  function changed(value) {
    value.dispatchEvent(new Event("input", { bubbles: true }));
    value.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function renderValue(row, spec) {
    var value = row.querySelector(".cond-value");
    var box = value.parentNode;
    box.querySelectorAll(".cond-picker").forEach(function (el) { el.remove(); });
    var op = row.querySelector(".cond-op").value;
    value.type = "text"; value.hidden = false; value.removeAttribute("list"); value.removeAttribute("inputmode");
    value.placeholder = "";
    if (!spec) { return; }
    if (NO_VALUE.indexOf(op) >= 0) { value.hidden = true; return; }
    var options = spec.options || [];
    var dateLike = spec.kind === "date" || spec.kind === "datetime";
    if (options.length && op !== "contains" && op !== "starts_with") {
      var select = document.createElement("select");
      select.className = "form-select form-select-sm cond-picker";
      select.setAttribute("aria-label", value.getAttribute("aria-label") || "");
      var multi = MULTI.indexOf(op) >= 0;
      var current = value.value.split(/[,，]/).map(function (v) { return v.trim(); });
      if (multi) { select.multiple = true; select.size = Math.min(4, options.length); } else {
        select.appendChild(new Option("—", ""));
      }
      options.forEach(function (o) {
        var option = new Option(o.label, o.value);
        option.selected = current.indexOf(o.value) >= 0 || current.indexOf(o.label) >= 0;
        select.appendChild(option);
      });
      select.addEventListener("change", function () {
        value.value = Array.prototype.map.call(select.selectedOptions, function (o) { return o.value; }).filter(Boolean).join(",");
        changed(value);
      });
      value.hidden = true;
      box.appendChild(select);
      return;
    }
    if (dateLike && (DAYS.indexOf(op) >= 0 || op === "month_is")) {
      value.type = "number"; value.min = "0"; value.setAttribute("inputmode", "numeric");
      value.placeholder = op === "month_is" ? "1–12" : (row.closest("[data-days]") || document.body).dataset.days || "30";
      return;
    }
    if (dateLike && op === "between") {
      var parts = value.value.split(",");
      value.hidden = true;
      [0, 1].forEach(function (i) {
        var input = document.createElement("input");
        input.type = "date"; input.className = "form-control form-control-sm cond-picker";
        input.value = /^\d{4}-\d{2}-\d{2}$/.test(parts[i] || "") ? parts[i] : "";
        input.setAttribute("aria-label", (value.getAttribute("aria-label") || "") + " " + (i + 1));
        input.addEventListener("change", function () {
          var dates = box.querySelectorAll("input.cond-picker");
          value.value = dates[0].value + "," + dates[1].value;
          changed(value);
        });
        box.appendChild(input);
      });
      return;
    }
    if (dateLike) {
      if (value.value && !/^\d{4}-\d{2}-\d{2}$/.test(value.value)) { value.value = ""; }
      value.type = "date";
      return;
    }
    if (spec.kind === "number" || spec.kind === "decimal") { value.setAttribute("inputmode", "decimal"); }
  }

  var FIELDS = [];

  function setupBuilder(builder) {
    var fields = FIELDS;
    var rows = builder.querySelector(".condition-rows");
    builder.querySelector(".add-row").addEventListener("click", function () {
      var copy = rows.querySelector(".condition-row").cloneNode(true);
      copy.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      copy.querySelector(".cond-field").value = "";
      rows.appendChild(copy);
      fillOps(copy, fields);
    });
    rows.addEventListener("click", function (event) {
      if (!event.target.classList.contains("remove-row")) { return; }
      var all = rows.querySelectorAll(".condition-row");
      var row = event.target.closest(".condition-row");
      if (all.length > 1) { row.remove(); } else { row.querySelector(".cond-field").value = ""; fillOps(row, fields); }
      rows.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  function showParams(block) {
    var select = block.querySelector(".action-type");
    var params = (select.selectedOptions[0].dataset.params || "").split(",");
    block.querySelectorAll("[data-param]").forEach(function (el) {
      el.hidden = params.indexOf(el.dataset.param) < 0;
    });
  }

  function numberBlocks(list) {
    list.querySelectorAll(".action-block").forEach(function (block, index) {
      var badge = block.querySelector(".step-no");
      if (badge) { badge.textContent = String(index + 1); }
    });
  }

  function setupActions(list) {
    list.querySelectorAll(".action-block").forEach(showParams);
    numberBlocks(list);
    list.addEventListener("change", function (event) {
      if (event.target.classList.contains("action-type")) { showParams(event.target.closest(".action-block")); }
    });
    list.addEventListener("click", function (event) {
      if (!event.target.classList.contains("remove-block")) { return; }
      if (list.querySelectorAll(".action-block").length > 1) { event.target.closest(".action-block").remove(); numberBlocks(list); }
      list.dispatchEvent(new Event("change", { bubbles: true }));
    });
    var add = document.querySelector("[data-add-action]");
    if (add) {
      add.addEventListener("click", function () {
        var copy = list.querySelector(".action-block").cloneNode(true);
        copy.querySelectorAll("input, textarea").forEach(function (i) { i.value = ""; });
        copy.querySelectorAll(".cond-field").forEach(function (f) { f.value = ""; });
        copy.querySelectorAll(".condition-row").forEach(function (row) { fillOps(row, FIELDS); });
        list.appendChild(copy);
        showParams(copy);
        numberBlocks(list);
      });
    }
  }

  function setupTrigger(select) {
    function show() {
      var params = (select.selectedOptions[0].dataset.params || "").split(",");
      document.querySelectorAll("[data-trigger-param]").forEach(function (el) {
        el.hidden = params.indexOf(el.dataset.triggerParam) < 0;
      });
      var scheduled = select.selectedOptions[0].dataset.kind === "schedule";
      document.querySelectorAll("[data-event-only]").forEach(function (el) { el.hidden = scheduled; });
    }
    select.addEventListener("change", show);
    show();
  }

  function setupTable(table) {
    var button = document.querySelector("[data-add-row-to='" + table.id + "']");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var rows = table.querySelectorAll("tbody tr");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll("input[type=text], input:not([type])").forEach(function (i) { i.value = ""; });
      table.querySelector("tbody").appendChild(copy);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = document.getElementById("condition-fields");
    FIELDS = data ? JSON.parse(data.textContent) : [];
    document.querySelectorAll(".condition-row").forEach(function (row) { fillOps(row, FIELDS); });
    document.addEventListener("change", function (event) {
      if (event.target.classList.contains("cond-field")) {
        var fieldRow = event.target.closest(".condition-row");
        fieldRow.querySelector(".cond-value").value = "";  // a city is no answer for a gender
        fillOps(fieldRow, FIELDS);
      }
      if (event.target.classList.contains("cond-op")) {
        var row = event.target.closest(".condition-row");
        var name = row.querySelector(".cond-field").value;
        renderValue(row, FIELDS.find(function (f) { return f.name === name; }));
      }
    });
    document.querySelectorAll(".condition-builder").forEach(setupBuilder);
    document.querySelectorAll(".action-list").forEach(setupActions);
    var trigger = document.querySelector("select[name=trigger]");
    if (trigger) { setupTrigger(trigger); }
    document.querySelectorAll("table[data-growable]").forEach(setupTable);
  });
})();
