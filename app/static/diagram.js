// Draws an order's diagram (bpmn-js viewer) and highlights where the order is now.
(function () {
  const container = document.getElementById("diagram");
  if (!container || !window.OrderflowBpmn) return;
  const viewer = new window.OrderflowBpmn.NavigatedViewer({ container });
  const active = JSON.parse(container.dataset.active || "[]");
  fetch(container.dataset.xml, { credentials: "same-origin" })
    .then((response) => response.text())
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get("canvas");
      const registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      for (const id of active) {
        if (registry.get(id)) canvas.addMarker(id, "current-step");
      }
      for (const id of JSON.parse(container.dataset.failing || "[]")) {
        if (id && registry.get(id)) canvas.addMarker(id, "failing-step");
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
