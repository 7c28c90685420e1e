// Draws one bar chart per question of a survey report (the total column of its table;
// suppressed counts are null: Chart.js leaves a gap, and the table shows "x").
(function () {
  "use strict";
  var source = document.getElementById("report-data");
  if (!source || typeof window.Chart === "undefined") {
    document.documentElement.setAttribute("data-charts", "unavailable");
    return;
  }
  var suppressed = source.getAttribute("data-suppressed") || "x";
  var drawn = 0;
  JSON.parse(source.textContent).forEach(function (q) {
    var canvas = document.getElementById("chart-" + q.index);
    if (!canvas) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: q.series.labels, datasets: [{ label: q.label || q.name, data: q.series.values, backgroundColor: "#1b5fb4" }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        indexAxis: q.series.labels.length > 5 ? "y" : "x",
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (ctx) {
            var v = ctx.raw; return v === null || v === undefined ? suppressed : String(v);
          } } }
        },
        scales: { x: { beginAtZero: true }, y: { beginAtZero: true } }
      }
    });
    canvas.setAttribute("data-drawn", "true");
    drawn += 1;
  });
  document.documentElement.setAttribute("data-charts", String(drawn));
})();
