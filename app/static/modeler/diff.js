// Two versions of a process side by side, each change marked on the diagram it belongs to: removed elements on
// the old one, added on the new one, changed and moved on both.
(function () {
  const data = JSON.parse(document.getElementById("diff-data").textContent);
  const marks = { old: {}, new: {} };
  for (const e of data.changes.removed) marks.old[e.id] = "diff-removed";
  for (const e of data.changes.added) marks.new[e.id] = "diff-added";
  for (const e of data.changes.changed) marks.old[e.id] = marks.new[e.id] = "diff-changed";
  for (const id of data.changes.moved) {
    if (!marks.old[id]) marks.old[id] = "diff-moved";
    if (!marks.new[id]) marks.new[id] = "diff-moved";
  }

  async function draw(side) {
    const container = document.getElementById(side + "-diagram");
    const viewer = new window.OrderflowBpmn.NavigatedViewer({ container });
    try {
      await viewer.importXML(data[side]);
    } catch (error) {
      container.textContent = "This version could not be drawn: " + error.message;
      container.dataset.ready = "error";
      return;
    }
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    canvas.zoom("fit-viewport");
    for (const [id, marker] of Object.entries(marks[side])) {
      if (registry.get(id)) canvas.addMarker(id, marker);
    }
    container.dataset.ready = "true";
  }

  draw("old");
  draw("new");
})();
