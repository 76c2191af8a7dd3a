// Draws every figure the site's plotly renderer (docs/plotly_mime.py) left in the page.
// Each <div class="cdln-plotly"> is followed by its figure as JSON in a <script type="application/json">.
(function () {
  function draw() {
    document.querySelectorAll("div.cdln-plotly").forEach(function (div) {
      var data = div.nextElementSibling;
      if (!data || !data.classList.contains("cdln-plotly-data")) { return; }
      var fig = JSON.parse(data.textContent);
      var layout = Object.assign({}, fig.layout || {});
      if (!layout.width || layout.width > div.clientWidth) {  // narrower column (a phone): fit it
        delete layout.width;
        layout.autosize = true;
      }
      Plotly.newPlot(div, fig.data || [], layout, { responsive: true, displaylogo: false });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
