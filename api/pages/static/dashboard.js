// Draws the ministry view's charts from the tables the server rendered (suppressed counts
// are null: Chart.js leaves a gap, and the table beside the chart shows "x").
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof window.Chart === "undefined") {
    document.documentElement.setAttribute("data-charts", "unavailable");
    return;
  }
  var palette = ["#1b5fb4", "#e07b39", "#2e9e6b", "#b63f6f", "#7a5cc4", "#c9a227", "#4aa3c9",
                 "#8c564b", "#6b7d8f", "#d45087", "#5c8a3a", "#a05195", "#ff7c43"];
  var tables = JSON.parse(source.textContent);
  var suppressed = source.getAttribute("data-suppressed") || "x";
  var drawn = 0;
  tables.forEach(function (table, index) {
    var canvas = document.getElementById("chart-" + index);
    if (!canvas) { return; }
    var series = table.series;
    var stacked = table.chart === "stacked";
    var line = table.chart === "line";
    var datasets = series.names.map(function (name, i) {
      var colour = palette[i % palette.length];
      return {
        label: name, data: series.values[i], backgroundColor: colour, borderColor: colour,
        spanGaps: false, tension: 0.2, pointRadius: 3
      };
    });
    var chart = new window.Chart(canvas, {
      type: line ? "line" : "bar",
      data: { labels: series.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        indexAxis: (!line && !stacked && series.labels.length > 6) ? "y" : "x",
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: function (ctx) {
            var v = ctx.raw;
            return ctx.dataset.label + ": " + (v === null || v === undefined ? suppressed : v);
          } } }
        },
        scales: { x: { stacked: stacked }, y: { stacked: stacked, beginAtZero: true } }
      }
    });
    canvas.setAttribute("data-drawn", chart ? "true" : "false");
    drawn += 1;
  });
  document.documentElement.setAttribute("data-charts", String(drawn));
})();
