// The dashboard's chart: stacked bars from the JSON the report carries (#chart-data), redrawn after an htmx swap
// (a swapped-in script would lack the CSP nonce, so the page listens for htmx's event instead).
(function () {
  let chart = null;
  function draw() {
    const el = document.getElementById("chart");
    const source = document.getElementById("chart-data");
    if (!el || !source || !window.Chart) return;
    if (chart) chart.destroy();
    chart = new Chart(el, {type: "bar", data: JSON.parse(source.textContent), options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: {x: {stacked: true, ticks: {autoSkip: true, maxRotation: 0}}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}},
      plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}}}});
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id === "report") draw();
  });
})();
