// Source / campaign filters in the bookings admin (bookings/admin.py RollupValueFilter): as the user types, fill
// the input's <datalist> with up to 20 matching values from the admin's JSON endpoint over the daily rollup.
// A static file, not an inline script: the Content-Security-Policy allows only our own scripts.
(function () {
  "use strict";
  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var asked = null;
    function fill(values) {
      list.replaceChildren.apply(list, values.map(function (v) {
        var option = document.createElement("option");
        option.value = v;
        return option;
      }));
    }
    function suggest() {
      var term = input.value;
      if (term === asked) return;
      asked = term;
      fetch(input.dataset.suggestUrl + "&q=" + encodeURIComponent(term), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {values: []}; })
        .then(function (data) { if (asked === term) fill(data.values || []); })
        .catch(function () {});
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(suggest, 150);
    });
    input.addEventListener("focus", suggest, {once: true});
  }
  function init() {
    document.querySelectorAll("input[data-suggest-url]").forEach(attach);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
