// Report charts with ECharts (served from our own static files), the "table" toggle of every chart,
// and arranging a dashboard: drag widgets (or use the buttons), change width, add, remove, save.
(function () {
  "use strict";

  function option(spec) {
    var chart = spec.chart, rows = spec.rows, labels = spec.labels;
    var name = function (key) { return labels[key] || key; };
    if (chart.type === "pie") {
      return {
        tooltip: { trigger: "item" }, legend: { bottom: 0, type: "scroll" },
        series: [{ type: "pie", radius: ["35%", "65%"], data: rows.map(function (r) { return { name: String(r[chart.x]), value: Number(r[chart.series[0]]) || 0 }; }) }]
      };
    }
    if (chart.type === "heatmap") {
      var values = rows.map(function (r) { return [Number(r[chart.x]) - 1, Number(r[chart.y]) - 1, Number(r[chart.series[0]])]; });
      var max = Math.max.apply(null, values.map(function (v) { return v[2]; }).concat([1]));
      return {
        tooltip: {}, grid: { left: 48, right: 16, top: 16, bottom: 64 },
        xAxis: { type: "category", name: name(chart.x), data: ["1", "2", "3", "4", "5"] },
        yAxis: { type: "category", name: name(chart.y), data: ["1", "2", "3", "4", "5"] },
        visualMap: { min: 0, max: max, orient: "horizontal", left: "center", bottom: 0, calculable: true },
        series: [{ type: "heatmap", data: values, label: { show: true } }]
      };
    }
    return {
      tooltip: { trigger: "axis" }, legend: { bottom: 0, type: "scroll" },
      grid: { left: 56, right: 16, top: 16, bottom: 48 },
      xAxis: { type: "category", data: rows.map(function (r) { return String(r[chart.x]); }) },
      yAxis: { type: "value" },
      series: chart.series.map(function (key) {
        return { type: chart.type === "line" ? "line" : "bar", name: name(key), smooth: true,
                 data: rows.map(function (r) { return r[key] === null ? null : Number(r[key]); }) };
      })
    };
  }

  var charts = [];
  function drawCharts(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll(".report-chart").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      var data = document.getElementById(el.dataset.chart);
      if (!data) { return; }
      el.dataset.drawn = "1";
      var instance = window.echarts.init(el);
      instance.setOption(option(JSON.parse(data.textContent)));
      charts.push(instance);
    });
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.body.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); event.target.removeAttribute("aria-busy"); });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".show-table");
    if (!button) { return; }
    var table = document.getElementById(button.getAttribute("aria-controls"));
    if (!table) { return; }
    table.hidden = !table.hidden;
    button.setAttribute("aria-expanded", String(!table.hidden));
  });

  // ---- arranging a dashboard ---------------------------------------------------------------------
  var grid = document.getElementById("dash-grid");
  if (!grid || !grid.dataset.editable) { return; }
  var dragged = null;

  function setWidth(widget, width) {
    widget.classList.remove("col-lg-" + widget.dataset.width);
    widget.dataset.width = String(width);
    widget.classList.add("col-lg-" + width);
    charts.forEach(function (c) { c.resize(); });
  }

  function tools(widget) {
    var box = widget.querySelector(".widget-tools");
    box.classList.remove("d-none"); box.classList.add("d-flex");
    [["up", "↑"], ["down", "↓"], ["narrower", "−"], ["wider", "+"], ["remove", "×"]].forEach(function (pair) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "btn btn-sm btn-light"; b.textContent = pair[1];
      b.dataset.tool = pair[0];
      b.setAttribute("aria-label", grid.dataset["label" + pair[0].charAt(0).toUpperCase() + pair[0].slice(1)] || pair[0]);
      box.appendChild(b);
    });
  }
  grid.querySelectorAll(".widget").forEach(tools);

  grid.addEventListener("click", function (event) {
    var b = event.target.closest && event.target.closest("[data-tool]");
    if (!b) { return; }
    var widget = b.closest(".widget"), widths = [4, 6, 12], at = widths.indexOf(Number(widget.dataset.width));
    if (b.dataset.tool === "remove") { widget.remove(); }
    if (b.dataset.tool === "up" && widget.previousElementSibling) { grid.insertBefore(widget, widget.previousElementSibling); }
    if (b.dataset.tool === "down" && widget.nextElementSibling) { grid.insertBefore(widget.nextElementSibling, widget); }
    if (b.dataset.tool === "wider" && at < 2) { setWidth(widget, widths[at + 1]); }
    if (b.dataset.tool === "narrower" && at > 0) { setWidth(widget, widths[at - 1]); }
  });
  grid.addEventListener("dragstart", function (event) {
    dragged = event.target.closest && event.target.closest(".widget");
    if (dragged) { event.dataTransfer.effectAllowed = "move"; event.dataTransfer.setData("text/plain", "widget"); dragged.classList.add("opacity-50"); }
  });
  grid.addEventListener("dragend", function () { if (dragged) { dragged.classList.remove("opacity-50"); } dragged = null; });
  grid.addEventListener("dragover", function (event) {
    var over = event.target.closest && event.target.closest(".widget");
    if (!dragged || !over || over === dragged) { return; }
    event.preventDefault();
    var box = over.getBoundingClientRect();
    // Over the upper or the left half of a widget: before it (widgets sit side by side on wide screens).
    var before = event.clientY < box.top + box.height / 2 || event.clientX < box.left + box.width / 2;
    grid.insertBefore(dragged, before ? over : over.nextElementSibling);
  });
  grid.addEventListener("drop", function (event) { if (dragged) { event.preventDefault(); } });

  var add = document.getElementById("dash-add");
  if (add) {
    add.addEventListener("change", function () {
      if (!add.value) { return; }
      var widget = document.createElement("div");
      widget.className = "col-12 col-lg-6 widget";
      widget.dataset.report = add.value; widget.dataset.params = "{}"; widget.dataset.width = "6";
      widget.draggable = true;
      widget.innerHTML = '<div class="card h-100"><div class="card-body"><div class="widget-tools d-none gap-1 mb-1"></div><div class="widget-body"></div></div></div>';
      var body = widget.querySelector(".widget-body");
      body.setAttribute("hx-get", grid.dataset.widgetUrl + "?report=" + encodeURIComponent(add.value) + "&widget=n" + Date.now() % 100000);
      body.setAttribute("hx-trigger", "load");
      grid.appendChild(widget);
      tools(widget);
      if (window.htmx) { window.htmx.process(widget); }
      add.value = "";
    });
  }
  var form = document.getElementById("dash-form");
  if (form) {
    form.addEventListener("submit", function () {
      var widgets = Array.prototype.map.call(grid.querySelectorAll(".widget"), function (w) {
        return { report: w.dataset.report, params: JSON.parse(w.dataset.params || "{}"), width: Number(w.dataset.width) };
      });
      document.getElementById("dash-widgets").value = JSON.stringify(widgets);
    });
  }
}());
