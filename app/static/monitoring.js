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
        cell.title = `${shape.businessObject.name || e.elementId}: ${e.active} waiting now, ${e.entered} entered, ` +
          `${e.completed} completed, p50 ${formatMs(e.timeSpent.p50Ms)}, p95 ${formatMs(e.timeSpent.p95Ms)}`;
        overlays.add(e.elementId, "heat", { position: { top: 0, left: 0 }, html: cell });
        // The figures keep a readable size whatever the zoom: they never shrink with the diagram.
        const readable = { min: 1, max: 1.6 };
        if (e.active > 0) {
          const badge = document.createElement("span");
          badge.className = "heat-active";
          badge.dataset.element = e.elementId;
          badge.title = `${e.active} waiting now`;
          badge.textContent = String(e.active);
          overlays.add(e.elementId, "heat", { position: { top: -12, right: 14 }, html: badge, scale: readable });
        }
        const label = document.createElement("span");
        label.className = "heat-label";
        label.dataset.element = e.elementId;
        label.textContent = `${e.entered} · p95 ${formatMs(e.timeSpent.p95Ms)}`;
        overlays.add(e.elementId, "heat", { position: { bottom: -2, left: 0 }, html: label, scale: readable });
        if (e.atRisk > 0) {
          // Orders likely to miss their SLA waiting here (app/web/prediction.py).
          const risk = document.createElement("span");
          risk.className = "heat-at-risk";
          risk.dataset.element = e.elementId;
          risk.title = "orders at risk";
          risk.textContent = `${e.atRisk} at risk`;
          overlays.add(e.elementId, "heat", { position: { bottom: 8, right: 0 }, html: risk, scale: readable });
        }
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
        zoomControls(viewer, container);
        startReadable(viewer, container, elements);
        container.dataset.ready = "true";
      })
      .catch((error) => {
        container.textContent = "The diagram could not be drawn: " + error.message;
        container.dataset.ready = "error";
      });
  }

  // Zoom in, out and back to the whole diagram with buttons, and with the mouse wheel over the diagram (around the
  // pointer). Dragging still pans.
  const FAR = 0.55;

  // A large diagram fitted into the box is too small to read: start at a readable size, centred on the step where
  // the most orders wait (the whole diagram is one click away: "Fit the diagram").
  function startReadable(viewer, container, elements) {
    const canvas = viewer.get("canvas");
    if (canvas.zoom() >= FAR) return;
    const registry = viewer.get("elementRegistry");
    const leaves = elements.filter((e) => {
      const shape = registry.get(e.elementId);
      return shape && !shape.waypoints && !(shape.children || []).some((child) => !child.labelTarget);
    });
    const hottest = leaves.sort((a, b) => b.active - a.active || b.entered - a.entered)[0];
    const shape = hottest && registry.get(hottest.elementId);
    if (!shape) return;
    const scale = 0.8;
    const size = canvas.getSize();
    const width = size.width / scale, height = size.height / scale;
    const x = shape.x + shape.width / 2 - width / 2, y = shape.y + shape.height / 2 - height / 2;
    canvas.viewbox({ x, y, width, height });
    container.dataset.zoom = canvas.zoom().toFixed(3);
  }

  function zoomControls(viewer, container) {
    const canvas = viewer.get("canvas");
    const step = 1.25;
    const limit = (scale) => Math.min(4, Math.max(0.1, scale));
    const zoom = (factor, around) => {
      canvas.zoom(limit(canvas.zoom() * factor), around);
      container.dataset.zoom = canvas.zoom().toFixed(3);
    };
    const tools = document.getElementById("heatmap-zoom");
    if (tools) {
      tools.hidden = false;
      tools.querySelector("[data-zoom=in]").addEventListener("click", () => zoom(step));
      tools.querySelector("[data-zoom=out]").addEventListener("click", () => zoom(1 / step));
      tools.querySelector("[data-zoom=fit]").addEventListener("click", () => {
        canvas.zoom("fit-viewport", "auto");
        container.dataset.zoom = canvas.zoom().toFixed(3);
      });
    }
    // Caught before bpmn-js's own wheel handling (which scrolls the diagram) so the wheel zooms instead.
    container.addEventListener("wheel", (event) => {
      event.preventDefault();
      event.stopPropagation();
      const box = container.getBoundingClientRect();
      zoom(event.deltaY < 0 ? step : 1 / step, { x: event.clientX - box.left, y: event.clientY - box.top });
    }, { capture: true, passive: false });
    // Far out, the figures of neighbouring steps would cover each other: only the waiting badges stay.
    const far = () => container.classList.toggle("heat-far", canvas.zoom() < FAR);
    viewer.get("eventBus").on("canvas.viewbox.changed", far);
    far();
    container.dataset.zoom = canvas.zoom().toFixed(3);
  }

  drawThroughput();
  drawHeatmap();
  document.body.addEventListener("htmx:afterSwap", drawThroughput);
})();
