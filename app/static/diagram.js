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
      container.dataset.ready = "true";
    })
    .catch((error) => {
      container.textContent = "The diagram could not be drawn: " + error.message;
      container.dataset.ready = "error";
    });
})();
