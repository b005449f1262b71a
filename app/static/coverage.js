// Draws diagrams with what scenarios covered: covered elements and flows green, the others red (bpmn-js viewer).
// Used by the HTML report of `orderflow test` (data in <script class="coverage-data">) and by the modeler.
(function () {
  function draw(container, xml, coverage) {
    const viewer = new window.OrderflowBpmn.NavigatedViewer({ container });
    return viewer.importXML(xml).then(() => {
      const canvas = viewer.get("canvas");
      const registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      const covered = new Set([...coverage.elements.covered, ...coverage.flows.covered]);
      const missing = [...coverage.notCovered.elements, ...coverage.notCovered.flows];
      for (const id of covered) if (registry.get(id)) canvas.addMarker(id, "covered");
      for (const id of missing) if (registry.get(id)) canvas.addMarker(id, "not-covered");
      container.dataset.covered = String(covered.size);
      container.dataset.ready = "true";
      return viewer;
    });
  }
  window.OrderflowCoverage = { draw };
  for (const data of document.querySelectorAll("script.coverage-data")) {
    const coverage = JSON.parse(data.textContent);
    const container = document.getElementById(data.dataset.for);
    draw(container, coverage.xml, coverage).catch((error) => {
      container.textContent = "The diagram could not be drawn: " + error.message;
    });
  }
})();
