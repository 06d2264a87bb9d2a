// Member form designer: drag field cards between and within sections (or use the arrow buttons),
// each change saved at once as the new layout; the preview then reloads (htmx "layout-saved").
(function () {
  "use strict";
  var designer = document.getElementById("designer");
  if (!designer) { return; }
  var status = document.getElementById("layout-status");
  var dragged = null;

  function zones() { return Array.prototype.slice.call(designer.querySelectorAll(".drop-zone")); }

  function refreshHints() {
    zones().forEach(function (zone) {
      var hint = zone.querySelector(".empty-hint");
      var hasFields = zone.querySelector(".field-card");
      if (hasFields && hint) { hint.remove(); }
      if (!hasFields && !hint) {
        var li = document.createElement("li");
        li.className = "list-group-item text-muted small empty-hint";
        li.textContent = designer.dataset.emptyHint || "…";
        zone.appendChild(li);
      }
    });
  }

  function save() {
    var layout = [];
    zones().forEach(function (zone) {
      var section = zone.closest(".form-section").dataset.section;
      zone.querySelectorAll(".field-card").forEach(function (card) {
        layout.push({ id: parseInt(card.dataset.id, 10), section: section });
      });
    });
    status.className = "small text-muted mb-2";
    fetch(designer.dataset.layoutUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": designer.dataset.csrf },
      body: JSON.stringify({ layout: layout })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      status.className = "small mb-2 " + (result.ok ? "text-success" : "text-danger");
      status.textContent = result.ok ? result.body.message : result.body.error.message;
      if (result.ok) { document.body.dispatchEvent(new CustomEvent("layout-saved")); }
    }, function () {
      status.className = "small text-danger mb-2";
      status.textContent = "⚠";
    });
    refreshHints();
  }

  function insertionPoint(zone, y) {
    var cards = Array.prototype.slice.call(zone.querySelectorAll(".field-card:not(.dragging)"));
    for (var i = 0; i < cards.length; i++) {
      var box = cards[i].getBoundingClientRect();
      if (y < box.top + box.height / 2) { return cards[i]; }
    }
    return null;
  }

  designer.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".field-card");
    if (!card) { return; }
    dragged = card;
    card.classList.add("dragging", "opacity-50");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
  });
  designer.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging", "opacity-50"); }
    dragged = null;
  });
  designer.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest(".drop-zone");
    if (!zone || !dragged) { return; }
    event.preventDefault();
    var before = insertionPoint(zone, event.clientY);
    if (before !== dragged) { zone.insertBefore(dragged, before); }
  });
  designer.addEventListener("drop", function (event) {
    if (!dragged) { return; }
    event.preventDefault();
    save();
  });

  // Keyboard and touch: the arrows move a field within its section and across section borders.
  designer.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.move");
    if (!button) { return; }
    var card = button.closest(".field-card");
    var up = button.dataset.dir === "-1";
    var sibling = up ? card.previousElementSibling : card.nextElementSibling;
    while (sibling && !sibling.classList.contains("field-card")) { sibling = up ? sibling.previousElementSibling : sibling.nextElementSibling; }
    if (sibling) {
      card.parentNode.insertBefore(card, up ? sibling : sibling.nextElementSibling);
    } else {
      var all = zones(), index = all.indexOf(card.parentNode), target = all[index + (up ? -1 : 1)];
      if (!target) { return; }
      if (up) { target.appendChild(card); } else { target.insertBefore(card, target.querySelector(".field-card")); }
    }
    button.focus();
    save();
  });

  // A new section exists only in the page until a field is dropped into it.
  document.getElementById("add-section").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("new-section");
    var name = input.value.trim();
    if (!name) { return; }
    var template = designer.querySelector(".form-section");
    var section = template.cloneNode(false);
    section.dataset.section = name;
    var header = template.querySelector(".card-header").cloneNode(false);
    var title = document.createElement("span");
    title.className = "fw-bold section-title";
    title.textContent = name;
    header.appendChild(title);
    var zone = document.createElement("ul");
    zone.className = "list-group list-group-flush drop-zone";
    zone.setAttribute("aria-label", name);
    section.appendChild(header);
    section.appendChild(zone);
    var last = designer.querySelectorAll(".form-section");
    designer.insertBefore(section, last[last.length - 1]);
    input.value = "";
    refreshHints();
  });
}());
