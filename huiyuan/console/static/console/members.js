// Member list: "tick all" for the page's members.
(function () {
  "use strict";
  var all = document.getElementById("tick-all");
  if (!all) { return; }
  all.addEventListener("change", function () {
    document.querySelectorAll("#member-table .tick").forEach(function (box) { box.checked = all.checked; });
  });
}());
