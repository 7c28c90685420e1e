// Draws the ministry view's charts from the tables the server rendered. Risk levels are
// red/amber/green; a suppressed count (null) is drawn as an "x" where its bar would be, never
// as a gap that looks like zero; a period that is not over (partial) is labelled so and its
// line dashed; long labels wrap instead of being cut.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof window.Chart === "undefined") {
    document.documentElement.setAttribute("data-charts", "unavailable");
    return;
  }
  var palette = ["#1b5fb4", "#e07b39", "#7a5cc4", "#b63f6f", "#2e9e6b", "#c9a227", "#4aa3c9",
                 "#8c564b", "#6b7d8f", "#d45087", "#5c8a3a", "#a05195", "#ff7c43"];
  var risk = { high: "#b91c1c", medium: "#d97706", low: "#15803d" };
  var tables = JSON.parse(source.textContent);
  var suppressed = source.getAttribute("data-suppressed") || "x";
  var partialWord = source.getAttribute("data-partial") || "";
  var drawn = 0;

  function wrap(text, width) {  // words into lines of at most `width` characters
    var lines = [], line = "";
    String(text).split(/\s+/).forEach(function (word) {
      if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    if (line) { lines.push(line); }
    return lines.length > 1 ? lines : lines[0] || "";
  }

  var suppressedMarks = {  // an "x" for each suppressed count, in its series' colour
    id: "suppressedMarks",
    afterDatasetsDraw: function (chart) {
      var horizontal = chart.options.indexAxis === "y";
      var stacked = !!(chart.options.scales.x && chart.options.scales.x.stacked);
      var value = horizontal ? chart.scales.x : chart.scales.y;
      var category = horizontal ? chart.scales.y : chart.scales.x;
      var ctx = chart.ctx;
      ctx.save();
      ctx.font = "bold 13px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      chart.data.labels.forEach(function (_, j) {
        var top = 0, shown = 0;
        chart.data.datasets.forEach(function (ds, i) {
          if (!chart.isDatasetVisible(i)) { return; }
          var v = ds.data[j];
          if (v !== null && v !== undefined) { top = stacked ? top + v : top; return; }
          var element = chart.getDatasetMeta(i).data[j];
          var across = element && isFinite(horizontal ? element.y : element.x)
            ? (horizontal ? element.y : element.x) : category.getPixelForValue(j);
          var along = value.getPixelForValue(top) + (horizontal ? 8 + shown * 12 : -8 - shown * 12);
          shown += stacked ? 1 : 0;
          ctx.fillStyle = ds.borderColor;
          ctx.fillText("x", horizontal ? along : across, horizontal ? across : along);
        });
      });
      ctx.restore();
    }
  };

  tables.forEach(function (table, index) {
    var canvas = document.getElementById("chart-" + index);
    if (!canvas) { return; }
    var series = table.series;
    var keys = series.keys || [];
    var partial = series.partial || [];
    var stacked = table.chart === "stacked";
    var line = table.chart === "line";
    var narrow = window.matchMedia("(max-width: 759px)").matches;
    var labels = series.labels.map(function (label, j) {
      return partial[j] ? label + " " + partialWord : label;
    });
    var datasets = series.names.map(function (name, i) {
      var colour = risk[keys[i]] || palette[i % palette.length];
      return {
        label: name, data: series.values[i], backgroundColor: colour, borderColor: colour,
        spanGaps: false, tension: 0.2, pointRadius: 3,
        segment: { borderDash: function (ctx) { return partial[ctx.p1DataIndex] ? [6, 4] : undefined; } }
      };
    });
    // bars lie down when their labels would not fit under them (many, or a phone's width),
    // and the box grows so that each wrapped label has its room
    var horizontal = !line && (narrow || (!stacked && series.labels.length > 6));
    var width = horizontal ? 18 : (narrow ? 12 : 24);
    if (horizontal) {
      var lines = labels.reduce(function (sum, label) {
        var wrapped = wrap(label, width);
        return sum + (typeof wrapped === "string" ? 1 : wrapped.length);
      }, 0);
      canvas.parentNode.style.height = Math.max(200, lines * 16 + labels.length * 10 + 80) + "px";
    }
    var categoryTicks = { autoSkip: false, maxRotation: 0,
      callback: function (value) { return wrap(this.getLabelForValue(value), width); } };
    var chart = new window.Chart(canvas, {
      type: line ? "line" : "bar",
      data: { labels: labels, datasets: datasets },
      plugins: [suppressedMarks],
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: function (ctx) {
            var v = ctx.raw;
            return ctx.dataset.label + ": " + (v === null || v === undefined ? suppressed : v);
          } } }
        },
        scales: {
          x: horizontal ? { stacked: stacked, beginAtZero: true } : { stacked: stacked, ticks: categoryTicks },
          y: horizontal ? { stacked: stacked, ticks: categoryTicks } : { stacked: stacked, beginAtZero: true }
        }
      }
    });
    canvas.setAttribute("data-drawn", chart ? "true" : "false");
    drawn += 1;
  });
  document.documentElement.setAttribute("data-charts", String(drawn));
})();
