// Small page behaviours, wired by data attributes: the Content-Security-Policy allows no inline
// event handlers (onclick=...), so they live here.
document.addEventListener("change", function (event) {
  const select = event.target.closest("[data-toggle-custom]");
  if (select) select.form.querySelector(".custom").hidden = select.value !== "custom";
});
document.addEventListener("click", function (event) {
  const all = event.target.closest("[data-select-all]");
  if (all) document.querySelectorAll(all.dataset.selectAll).forEach(function (c) { c.checked = all.checked; });
  const field = event.target.closest("[data-select-on-click]");
  if (field) field.select();
});
