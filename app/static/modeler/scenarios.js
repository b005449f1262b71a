// Scenarios on the process editor page: run the scenario file against the diagram as drawn (not yet deployed) and
// mark on the canvas what the scenarios covered; record a scenario from the test order walked through by hand.
(function () {
  const { api, el, download } = window.OrderflowModeling;
  const editor = window.orderflowEditor;
  if (!editor) return;
  const data = JSON.parse(document.getElementById("editor-data").textContent);
  const section = document.getElementById("scenarios");
  const text = document.getElementById("scenario-text");
  const summary = document.getElementById("scenario-summary");
  const results = document.getElementById("scenario-results");
  const recordButton = document.getElementById("record-scenario");
  const canvas = editor.modeler.get("canvas");
  const registry = editor.modeler.get("elementRegistry");
  let marks = [];

  function key() {
    return editor.state.key;
  }

  function clearCoverage() {
    for (const [id, marker] of marks) canvas.removeMarker(id, marker);
    marks = [];
    delete section.dataset.covered;
  }

  function drawCoverage(coverage) {
    clearCoverage();
    const mark = (id, marker) => {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
        marks.push([id, marker]);
      }
    };
    for (const id of [...coverage.elements.covered, ...coverage.flows.covered]) mark(id, "covered");
    for (const id of [...coverage.notCovered.elements, ...coverage.notCovered.flows]) mark(id, "not-covered");
    section.dataset.covered = String(marks.filter(([, m]) => m === "covered").length);
  }

  async function run() {
    summary.textContent = "Running…";
    summary.dataset.state = "running";
    results.replaceChildren();
    try {
      const answer = await api("POST", data.urls.runScenarios.replace("__KEY__", key()), {
        xml: await editor.xml(),
        text: text.value,
      });
      const passed = answer.scenarios.filter((s) => s.passed).length;
      const coverage = answer.coverage[0];
      let line = `${passed} of ${answer.scenarios.length} scenarios passed.`;
      if (coverage) {
        const flows = coverage.flows.covered.length;
        const elements = coverage.elements.covered.length;
        line += ` Coverage: flows ${flows}/${coverage.flows.total}, elements ${elements}/${coverage.elements.total}.`;
        drawCoverage(coverage);
      }
      summary.textContent = line;
      summary.dataset.state = answer.passed ? "passed" : "failed";
      results.replaceChildren(
        ...answer.scenarios.map((s) =>
          el("li", { class: s.passed ? "passed" : "error", dataset: { testid: "scenario-result" } },
            (s.passed ? "pass: " : "FAIL: ") + s.name + (s.difference ? " — " + s.difference : ""))),
      );
    } catch (error) {
      summary.textContent = "The scenarios could not run: " + error.message;
      summary.dataset.state = "error";
    }
  }

  async function record() {
    if (!editor.state.testOrder) return;
    try {
      const answer = await api("POST", data.urls.recordScenario.replace("__ID__", editor.state.testOrder), {});
      text.value = answer.text;
      summary.textContent = "Recorded the test order as a scenario: edit what must hold, then run it.";
      summary.dataset.state = "recorded";
    } catch (error) {
      summary.textContent = "The test order could not be recorded: " + error.message;
      summary.dataset.state = "error";
    }
  }

  async function load() {
    try {
      const shipped = await api("GET", data.urls.scenarios.replace("__KEY__", key()));
      if (shipped.text && !text.value) text.value = shipped.text;
    } catch (error) {
      summary.textContent = "The scenario file could not be loaded: " + error.message;
    }
    section.dataset.ready = "true";
  }

  document.getElementById("run-scenarios").addEventListener("click", run);
  recordButton.addEventListener("click", record);
  document.getElementById("clear-coverage").addEventListener("click", clearCoverage);
  document.getElementById("download-scenarios").addEventListener("click", () => {
    download(key() + ".test.yaml", text.value, "application/yaml");
  });
  document.getElementById("modeler").addEventListener("test-order-started", () => {
    recordButton.disabled = false;
    recordButton.title = "";
  });
  load();
})();
