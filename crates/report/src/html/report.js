(function () {
  "use strict";
  var form = document.getElementById("filters");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#finding-list tbody tr"));
  var names = ["severity", "namespace", "check", "status", "q"];
  function value(name) { return form.elements[name].value; }
  // Filters live in the URL's fragment (#severity=high&namespace=shop), so a filtered view can
  // be linked to.
  function fromHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    names.forEach(function (name) {
      if (params.has(name)) { form.elements[name].value = params.get(name); }
    });
  }
  function toHash() {
    var params = new URLSearchParams();
    names.forEach(function (name) { if (value(name)) { params.set(name, value(name)); } });
    var hash = params.toString();
    if (hash !== location.hash.slice(1)) {
      history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    }
  }
  function apply() {
    var q = value("q").toLowerCase();
    var wanted = { severity: value("severity"), namespace: value("namespace"), check: value("check"), status: value("status") };
    var n = 0;
    rows.forEach(function (row) {
      var d = row.dataset;
      var ok = Object.keys(wanted).every(function (k) { return !wanted[k] || d[k] === wanted[k]; })
        && (!q || d.text.indexOf(q) >= 0);
      row.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " findings shown";
  }
  function changed() { apply(); toHash(); }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  fromHash();
  apply();
}());
