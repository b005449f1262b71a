// Monitoring pages: the throughput chart (uPlot) and the bottleneck heatmap drawn over the diagram (bpmn-js).
(function () {
  function drawThroughput() {
    const holder = document.getElementById("throughput");
    const source = document.getElementById("throughput-data");
    if (!holder || !source || !window.uPlot) return;
    const data = JSON.parse(source.textContent);
    const x = data.buckets.map((b) => Date.parse(b.to) / 1000);
    const series = ["started", "completed", "cancelled"].map((name) => data.buckets.map((b) => b[name]));
    holder.innerHTML = "";
    const options = {
      width: holder.clientWidth || 800,
      height: 220,
      series: [
        {},
        { label: "started", stroke: "#1f6feb", width: 2 },
        { label: "completed", stroke: "#2da44e", width: 2 },
        { label: "cancelled", stroke: "#cf222e", width: 2 },
      ],
      axes: [{}, { label: "orders per " + Math.round(data.bucketSeconds) + " s" }],
    };
    new window.uPlot(options, [x, ...series], holder);
    holder.dataset.ready = "true";
  }

  function heatColour(share) {
    // From pale yellow (little) to deep red (the worst element in view).
    const hue = 55 - 55 * share;
    return `hsla(${hue}, 90%, ${60 - 15 * share}%, ${0.25 + 0.5 * share})`;
  }

  function formatMs(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
    if (ms < 7200000) return (ms / 60000).toFixed(1) + " min";
    return (ms / 3600000).toFixed(1) + " h";
  }

  function drawHeatmap() {
    const container = document.getElementById("heatmap");
    if (!container || !window.OrderflowBpmn) return;
    const elements = JSON.parse(document.getElementById("element-metrics").textContent);
    const picker = document.getElementById("heat-by");
    const viewer = new window.OrderflowBpmn.NavigatedViewer({ container });
    const measure = {
      active: (e) => e.active,
      p95: (e) => e.timeSpent.p95Ms || 0,
      entered: (e) => e.entered,
    };

    function paint() {
      const overlays = viewer.get("overlays");
      const registry = viewer.get("elementRegistry");
      overlays.remove({ type: "heat" });
      const by = measure[picker ? picker.value : "active"];
      const highest = Math.max(1, ...elements.map(by));
      let painted = 0;
      for (const e of elements) {
        const shape = registry.get(e.elementId);
        if (!shape || shape.waypoints) continue;
        const value = by(e);
        const share = value / highest;
        const cell = document.createElement("div");
        cell.className = "heat-cell";
        cell.dataset.element = e.elementId;
        cell.dataset.value = String(value);
        cell.style.width = shape.width + "px";
        cell.style.height = shape.height + "px";
        // A subprocess holds other elements: outline it, so its insides stay readable.
        const container = (shape.children || []).some((child) => !child.labelTarget);
        if (container) {
          cell.classList.add("heat-container");
          cell.style.borderColor = value > 0 ? heatColour(share) : "transparent";
        } else {
          cell.style.background = value > 0 ? heatColour(share) : "transparent";
        }
        cell.title = `${e.name || e.elementId}: ${e.active} waiting now, ${e.entered} entered, ` +
          `${e.completed} completed, p50 ${formatMs(e.timeSpent.p50Ms)}, p95 ${formatMs(e.timeSpent.p95Ms)}`;
        const badge = e.active > 0 ? `<span class="heat-active">${e.active}</span>` : "";
        // Orders likely to miss their SLA waiting here (app/web/prediction.py).
        const risk = e.atRisk > 0 ? `<span class="heat-at-risk" title="orders at risk">${e.atRisk} at risk</span>` : "";
        cell.innerHTML = badge + risk + `<span class="heat-label">${e.entered} · p95 ${formatMs(e.timeSpent.p95Ms)}</span>`;
        overlays.add(e.elementId, "heat", { position: { top: 0, left: 0 }, html: cell });
        painted += 1;
      }
      container.dataset.painted = String(painted);
    }

    fetch(container.dataset.xml, { credentials: "same-origin" })
      .then((response) => response.text())
      .then((xml) => viewer.importXML(xml))
      .then(() => {
        viewer.get("canvas").zoom("fit-viewport");
        paint();
        if (picker) picker.addEventListener("change", paint);
        container.dataset.ready = "true";
      })
      .catch((error) => {
        container.textContent = "The diagram could not be drawn: " + error.message;
        container.dataset.ready = "error";
      });
  }

  drawThroughput();
  drawHeatmap();
  document.body.addEventListener("htmx:afterSwap", drawThroughput);
})();
