// Draws an order's diagram (bpmn-js viewer), marks where the order waits and zooms to it.
(function () {
  const container = document.getElementById("diagram");
  if (!container || !window.OrderflowBpmn) return;
  const viewer = new window.OrderflowBpmn.NavigatedViewer({ container });
  const active = JSON.parse(container.dataset.active || "[]");

  // Where the order waits: the task of this page, else every active element that holds no other active element
  // (an embedded subprocess is active while a step inside it waits; tinting it would hide the step).
  function waiting(registry) {
    if (container.dataset.task && registry.get(container.dataset.task)) return [registry.get(container.dataset.task)];
    let shapes = active.map((id) => registry.get(id)).filter((shape) => shape && !shape.waypoints);
    // A boundary event (a timer beside a task) waits with the task; the task is where the order is.
    const steps = shapes.filter((shape) => shape.type !== "bpmn:BoundaryEvent");
    if (steps.length) shapes = steps;
    const holds = (outer, inner) => {
      for (let p = inner.parent; p; p = p.parent) if (p === outer) return true;
      return false;
    };
    return shapes.filter((shape, i) => !shapes.some((other, j) => i !== j && other !== shape && holds(shape, other)))
      .filter((shape, i, all) => all.indexOf(shape) === i);
  }

  // Show the waiting steps at a readable size with some of the way around them, not the whole story in a box.
  function zoomTo(canvas, shapes) {
    const box = canvas.viewbox();
    const size = canvas.getSize ? canvas.getSize() : { width: box.outer.width, height: box.outer.height };
    if (!shapes.length) return;
    const left = Math.min(...shapes.map((s) => s.x)), top = Math.min(...shapes.map((s) => s.y));
    const right = Math.max(...shapes.map((s) => s.x + s.width)), bottom = Math.max(...shapes.map((s) => s.y + s.height));
    // At most life size; smaller only when the waiting steps themselves need the room.
    const scale = Math.min(1, size.width / (right - left + 160), size.height / (bottom - top + 120));
    const width = size.width / scale, height = size.height / scale;
    canvas.viewbox({ x: (left + right) / 2 - width / 2, y: (top + bottom) / 2 - height / 2, width, height });
  }

  fetch(container.dataset.xml, { credentials: "same-origin" })
    .then((response) => response.text())
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get("canvas");
      const registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      const marked = waiting(registry);
      for (const shape of marked) canvas.addMarker(shape.id, "current-step");
      const failing = JSON.parse(container.dataset.failing || "[]").filter((id) => id && registry.get(id));
      for (const id of failing) canvas.addMarker(id, "failing-step");
      zoomTo(canvas, marked.length ? marked : failing.map((id) => registry.get(id)));
      container.dataset.marked = JSON.stringify(marked.map((shape) => shape.id));
      const fit = document.getElementById("diagram-fit");
      if (fit && marked.length) {
        fit.hidden = false;
        fit.addEventListener("click", () => {
          if (fit.dataset.whole) zoomTo(canvas, marked);
          else canvas.zoom("fit-viewport");
          fit.dataset.whole = fit.dataset.whole ? "" : "true";
          fit.textContent = fit.dataset.whole ? "Back to the waiting step" : "Whole diagram";
        });
      }
      const move = document.getElementById("move");
      if (container.dataset.movable && move) {
        // An operator clicks a step: the form below offers to move the order's token there.
        viewer.get("eventBus").on("element.click", (event) => {
          const element = event.element;
          const type = element.type || "";
          if (!element.businessObject || type === "bpmn:Process" || type === "bpmn:SequenceFlow" || type === "label") return;
          document.getElementById("move-element").value = element.id;
          document.getElementById("move-label").textContent = (element.businessObject.name || element.id) + ":";
          move.hidden = false;
        });
      }
      container.dataset.ready = "true";
    })
    .catch((error) => {
      container.textContent = "The diagram could not be drawn: " + error.message;
      container.dataset.ready = "error";
    });
})();
