// The till: find the member, build the basket, let the checkout API price it, pay, show the
// receipt. Every amount comes from the server's quote; this script only collects input.
// Keyboard first: a barcode scanner types the member code and presses Enter into whatever has
// focus, so a code typed outside a field is sent to the member search.
(function () {
  "use strict";
  var root = document.getElementById("till");
  if (!root || !root.dataset.store) { return; }
  var T = JSON.parse(document.getElementById("till-texts").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var state = { member: null, orderNo: newOrderNo(), quote: null, timer: null, paying: false };

  function newOrderNo() {
    var d = new Date();
    var pad = function (n) { return String(n).padStart(2, "0"); };
    var stamp = d.getFullYear() + pad(d.getMonth() + 1) + pad(d.getDate()) + pad(d.getHours()) + pad(d.getMinutes()) + pad(d.getSeconds());
    return (root.dataset.store + "-" + stamp + "-" + Math.random().toString(36).slice(2, 7)).toUpperCase().slice(0, 64);
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (response) {
      return response.json().then(function (json) { return { ok: response.ok, body: json }; },
        function () { return { ok: false, body: {} }; });
    }, function () { return { ok: false, network: true, body: {} }; });
  }

  function showError(result) {
    var box = $("till-error");
    if (!result) { box.hidden = true; box.textContent = ""; return; }
    var error = (result.body && result.body.error) || {};
    var lines = [result.network ? T.network : (error.message || T.network)];
    Object.keys(error.fields || {}).forEach(function (name) {
      (error.fields[name] || []).forEach(function (m) { if (lines.indexOf(m) < 0) { lines.push(m); } });
    });
    box.textContent = "";
    lines.forEach(function (text, i) {
      var line = document.createElement(i ? "div" : "strong");
      line.textContent = text;
      box.appendChild(line);
    });
    box.hidden = false;
  }

  // ---- member --------------------------------------------------------------------------------
  function setMember(member) {
    state.member = member;
    $("lookup-results").textContent = "";
    $("member-card").hidden = !member;
    $("benefits").disabled = !member || member.frozen;
    if (member) {
      $("m-name").textContent = member.name || member.card_no;
      $("m-phone").textContent = member.phone;
      $("m-card").textContent = member.card_no;
      $("m-tier").textContent = member.tier || T.no_tier;
      $("m-points").textContent = member.points;
      $("m-sv").textContent = T.yuan + member.stored_value;
      $("m-frozen").hidden = !member.frozen;
      $("m-frozen").textContent = T.frozen;
      $("quick-amount").focus();
    } else {
      ["coupon", "points", "stored", "pin"].forEach(function (id) { $(id).value = ""; });
      $("lookup").value = "";
    }
    requote();
  }

  function lookup(text) {
    text = text.trim();
    if (!text) { return; }
    api("GET", root.dataset.lookupUrl + "?q=" + encodeURIComponent(text)).then(function (result) {
      var box = $("lookup-results");
      box.textContent = "";
      if (!result.ok) { showError(result); return; }
      showError(null);
      var found = result.body.results || [];
      if (found.length === 1) { setMember(found[0]); return; }
      if (!found.length) {
        box.innerHTML = '<div class="alert alert-warning py-1 small mb-0"></div>';
        box.firstChild.textContent = T.not_found;
        var enrol = $("enrol-link");
        if (enrol && /^\d{11}$/.test(text)) { enrol.href = enrol.href.split("&phone=")[0] + "&phone=" + text; }
        return;
      }
      var label = document.createElement("div");
      label.className = "small mb-1";
      label.textContent = T.choose;
      box.appendChild(label);
      var list = document.createElement("div");
      list.className = "list-group";
      found.forEach(function (m) {
        var item = document.createElement("button");
        item.type = "button";
        item.className = "list-group-item list-group-item-action";
        item.textContent = (m.name || "—") + " · " + m.phone + " · " + m.card_no + (m.tier ? " · " + m.tier : "");
        item.addEventListener("click", function () { setMember(m); });
        list.appendChild(item);
      });
      box.appendChild(list);
      list.firstChild.focus();
    });
  }

  // ---- basket --------------------------------------------------------------------------------
  function cents(text) {
    var value = parseFloat(String(text || "").replace(/[¥,，\s]/g, ""));
    return isFinite(value) ? Math.round(value * 100) : 0;
  }
  function yuan(c) { return (c / 100).toFixed(2); }

  function addLine() {
    var row = $("line-template").content.firstElementChild.cloneNode(true);
    row.querySelector(".line-remove").addEventListener("click", function () { row.remove(); requote(); });
    $("lines").appendChild(row);
    $("quick-amount").disabled = true;
    row.querySelector(".line-name").focus();
  }

  function basketLines() {
    var lines = [];
    $("lines").querySelectorAll(".line").forEach(function (row) {
      var qtyText = row.querySelector(".line-qty").value.trim() || "1";
      var qty = parseFloat(qtyText);
      var price = cents(row.querySelector(".line-price").value);
      if (!price || !(qty > 0)) { return; }
      lines.push({ name: row.querySelector(".line-name").value.trim().slice(0, 200) || T.item, quantity: String(qty), amount: yuan(Math.round(price * qty)) });
    });
    $("quick-amount").disabled = $("lines").children.length > 0;
    if (!lines.length && !$("lines").children.length && cents($("quick-amount").value) > 0) {
      lines.push({ name: T.item, amount: yuan(cents($("quick-amount").value)) });
    }
    return lines;
  }

  function payload() {
    var body = { order_no: state.orderNo, store: root.dataset.store, lines: basketLines() };
    if (state.member) {
      body.member = { id: state.member.id };
      if ($("coupon").value) { body.coupon_code = $("coupon").value; }
      var points = parseInt($("points").value, 10);
      if (points > 0) { body.points = points; }
      if (cents($("stored").value) > 0) { body.stored_value = yuan(cents($("stored").value)); }
      if ($("pin").value) { body.payment_password = $("pin").value; }
    }
    return body;
  }

  function summaryRow(tbody, label, value, strong) {
    var tr = document.createElement("tr");
    var th = document.createElement("th"); th.scope = "row"; th.className = "fw-normal"; th.textContent = label;
    var td = document.createElement("td"); td.className = "text-end"; td.textContent = value;
    if (strong) { tr.className = "fw-bold fs-5"; }
    tr.appendChild(th); tr.appendChild(td); tbody.appendChild(tr);
  }

  function renderQuote(q) {
    var tbody = $("summary").querySelector("tbody");
    tbody.textContent = "";
    if (!q) { return; }
    summaryRow(tbody, T.gross, T.yuan + q.gross);
    if (cents(q.tier_discount)) { summaryRow(tbody, T.tier_discount, "−" + T.yuan + q.tier_discount); }
    if (cents(q.coupon_discount)) { summaryRow(tbody, T.coupon_discount, "−" + T.yuan + q.coupon_discount); }
    if (q.points_used) { summaryRow(tbody, T.points_value + " (" + q.points_used + ")", "−" + T.yuan + q.points_value); }
    if (cents(q.stored_value)) { summaryRow(tbody, T.stored_value_paid, T.yuan + q.stored_value); }
    summaryRow(tbody, T.due, T.yuan + q.due_external, true);
    if (state.member) { summaryRow(tbody, T.to_earn, String(q.points_to_earn)); }
    $("points-hint").textContent = state.member ? T.max_points.replace("%(n)s", q.max_points_usable) : "";
    $("pin-row").hidden = !(state.member && state.member.has_payment_password && cents($("stored").value) > 0);
    var select = $("coupon"), chosen = select.value;
    select.textContent = "";
    var none = document.createElement("option"); none.value = ""; none.textContent = T.no_coupon; select.appendChild(none);
    (q.coupons || []).forEach(function (c) {
      var option = document.createElement("option");
      option.value = c.code;
      option.textContent = c.name + (c.usable ? " −" + T.yuan + c.discount : " (" + T.cannot_use + ": " + c.reason + ")");
      option.disabled = !c.usable;
      option.selected = c.code === chosen;
      select.appendChild(option);
    });
  }

  function requote() {
    clearTimeout(state.timer);
    state.timer = setTimeout(quoteNow, 250);
  }

  function quoteNow() {
    var body = payload();
    if (!body.lines.length) { state.quote = null; renderQuote(null); return Promise.resolve(null); }
    return api("POST", root.dataset.quoteUrl, body).then(function (result) {
      if (!result.ok) { showError(result); return null; }
      showError(null);
      state.quote = result.body;
      renderQuote(result.body);
      return result.body;
    });
  }

  function pay(event) {
    event.preventDefault();
    if (state.paying) { return; }
    var body = payload();
    if (!body.lines.length) { showError({ body: { error: { message: T.empty_basket } } }); return; }
    state.paying = true;
    $("pay").disabled = true;
    quoteNow().then(function (quote) {
      if (!quote) { return null; }
      body = payload();
      if (cents(quote.due_external) > 0) { body.payment_methods = [{ method: $("method").value, amount: quote.due_external }]; }
      return api("POST", root.dataset.commitUrl, body).then(function (result) {
        if (!result.ok) { showError(result); return; }
        showReceipt(result.body, quote);
      });
    }).then(function () { state.paying = false; $("pay").disabled = false; });
  }

  function showReceipt(order, quote) {
    $("basket-form").hidden = true;
    $("receipt").hidden = false;
    $("receipt-title").textContent = T.done.replace("%(no)s", order.order_no);
    var tbody = $("receipt-table").querySelector("tbody");
    tbody.textContent = "";
    (order.lines || []).forEach(function (line) { summaryRow(tbody, line.name + " × " + line.quantity.replace(/\.?0+$/, ""), T.yuan + line.amount); });
    renderQuote(null);
    var b = order.benefits || {};
    if (cents(quote.tier_discount)) { summaryRow(tbody, T.tier_discount, "−" + T.yuan + quote.tier_discount); }
    if (cents(quote.coupon_discount)) { summaryRow(tbody, T.coupon_discount, "−" + T.yuan + quote.coupon_discount); }
    if (quote.points_used) { summaryRow(tbody, T.points_value + " (" + quote.points_used + ")", "−" + T.yuan + quote.points_value); }
    if (cents(quote.stored_value)) { summaryRow(tbody, T.stored_value_paid, T.yuan + quote.stored_value); }
    summaryRow(tbody, T.due, T.yuan + quote.due_external, true);
    if (state.member) { summaryRow(tbody, T.to_earn, String(b.points_earned != null ? b.points_earned : quote.points_to_earn)); }
    $("receipt-order").href = root.dataset.orderUrl + encodeURIComponent(order.order_no) + "/";
    $("next-sale").focus();
  }

  function reset() {
    state.orderNo = newOrderNo();
    $("lines").textContent = "";
    $("quick-amount").value = "";
    $("quick-amount").disabled = false;
    $("basket-form").hidden = false;
    $("receipt").hidden = true;
    showError(null);
    setMember(null);
    $("lookup").focus();
  }

  // ---- wiring --------------------------------------------------------------------------------
  $("lookup-form").addEventListener("submit", function (event) { event.preventDefault(); lookup($("lookup").value); });
  $("m-clear").addEventListener("click", function () { setMember(null); $("lookup").focus(); });
  $("add-line").addEventListener("click", addLine);
  $("basket-form").addEventListener("input", function (event) {
    if (event.target.id !== "pin") { requote(); }
  });
  $("coupon").addEventListener("change", requote);
  $("basket-form").addEventListener("submit", pay);
  $("reset").addEventListener("click", reset);
  $("next-sale").addEventListener("click", reset);

  var scanned = "";
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Enter" && scanned) { $("lookup").value = scanned; lookup(scanned); scanned = ""; event.preventDefault(); return; }
    if (event.key.length === 1 && /[0-9A-Za-z]/.test(event.key)) { scanned += event.key; }
  });

  if (root.dataset.member) { lookupById(root.dataset.member); }
  function lookupById(id) {
    api("GET", "/api/v1/members/" + encodeURIComponent(id)).then(function (result) {
      if (result.ok && result.body.card_no) { lookup(result.body.card_no); }
    });
  }
}());
