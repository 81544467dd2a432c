(function () {
  "use strict";
  var form = document.getElementById("filters");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#finding-list tbody tr"));
  function value(name) { return form.elements[name].value; }
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
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  apply();
}());
