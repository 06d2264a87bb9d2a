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
    var value = row.querySelector(".cond-value");
    if (spec && spec.choices.length) { value.setAttribute("list", "choices-" + spec.name); } else { value.removeAttribute("list"); }
    if (spec && !value.placeholder) { value.placeholder = spec.kind === "date" || spec.kind === "datetime" ? "30" : ""; }
  }

  var FIELDS = [];

  function setupBuilder(builder) {
    var fields = FIELDS;
    var rows = builder.querySelector(".condition-rows");
    fields.forEach(function (f) {
      if (!f.choices.length) { return; }
      var list = document.createElement("datalist");
      list.id = "choices-" + f.name;
      f.choices.forEach(function (c) { var o = document.createElement("option"); o.value = c; list.appendChild(o); });
      builder.appendChild(list);
    });
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
      if (event.target.classList.contains("cond-field")) { fillOps(event.target.closest(".condition-row"), FIELDS); }
    });
    document.querySelectorAll(".condition-builder").forEach(setupBuilder);
    document.querySelectorAll(".action-list").forEach(setupActions);
    var trigger = document.querySelector("select[name=trigger]");
    if (trigger) { setupTrigger(trigger); }
    document.querySelectorAll("table[data-growable]").forEach(setupTable);
  });
})();
