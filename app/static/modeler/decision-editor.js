// The DMN editor page: dmn-js (requirements diagram and decision tables), lint on every change, deploy as a new
// version, and evaluate the deployed decision with sample inputs.
(function () {
  const { api, el, debounce, download, readDiagram, oneLine } = window.OrderflowModeling;
  const data = JSON.parse(document.getElementById("editor-data").textContent);
  const page = document.getElementById("modeler");
  const message = document.getElementById("modeler-message");
  const state = { key: data.key, version: data.version, latest: data.latest, dirty: !data.version, lintRun: 0 };
  const modeler = new window.OrderflowDmn.Modeler({ container: "#dmn-canvas" });
  const watched = new WeakSet();
  let problems = [];

  function say(text, kind) {
    message.textContent = text;
    message.className = "flash " + (kind || "info");
    message.hidden = !text;
  }

  async function currentXml() {
    return (await modeler.saveXML({ format: true })).xml;
  }

  function decisions() {
    const definitions = modeler.getDefinitions();
    return ((definitions && definitions.drgElement) || []).filter((e) => e.$instanceOf("dmn:Decision"));
  }

  function fileName() {
    return state.key + ".dmn";
  }

  function showState() {
    const badge = document.getElementById("version-state");
    let text = state.version ? `version ${state.version}` : "not deployed yet";
    if (state.version && state.latest && state.version !== state.latest) text += ` (latest is ${state.latest})`;
    if (state.dirty) text += " · changes not deployed";
    badge.textContent = text;
    badge.dataset.dirty = String(state.dirty);
  }

  // Problems point at rules, inputs, outputs or cells; the open table outlines the ones it shows.
  function markProblems() {
    for (const cell of document.querySelectorAll("#dmn-canvas .lint-error")) cell.classList.remove("lint-error");
    for (const problem of problems) {
      // "rule Rule_2 (row 2), input 'total' [InputEntry_2]: …" names the cell as well as the rule
      const cells = [...(problem.message || "").matchAll(/\[([\w.-]+)\]/g)].map((m) => m[1]);
      for (const id of [problem.elementId, ...cells].filter(Boolean)) {
        for (const cell of document.querySelectorAll(`#dmn-canvas [data-element-id="${CSS.escape(id)}"]`)) {
          cell.classList.add("lint-error");
        }
      }
    }
  }

  function showProblems(errors, warnings) {
    problems = [...errors, ...warnings];
    const items = problems.map((problem) => el("li", {
      class: problem.severity === "warning" ? "warning" : "error", dataset: { elementId: problem.elementId || "" },
    }, el("b", {}, problem.severity === "warning" ? "Warning" : "Error"),
    problem.elementName || problem.elementId ? ` at ${problem.elementName || problem.elementId}: ` : ": ", problem.message));
    document.getElementById("problems").replaceChildren(
      ...(items.length ? items : [el("li", { class: "ok" }, "No problems: orderflow can evaluate this.")]));
    document.getElementById("lint-summary").textContent = errors.length || warnings.length
      ? `${errors.length} error${errors.length === 1 ? "" : "s"}, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}`
      : "✓ no problems";
    page.dataset.lint = errors.length ? "errors" : warnings.length ? "warnings" : "clean";
    markProblems();
  }

  async function lint() {
    const run = ++state.lintRun;
    page.dataset.lintState = "checking";
    try {
      const result = await api("POST", data.urls.lint, { files: [{ name: fileName(), xml: await currentXml() }] });
      if (run === state.lintRun) showProblems(result.errors, result.warnings);
    } catch (error) {
      if (run === state.lintRun) showProblems([{ message: error.message, severity: "error" }], []);
    }
    if (run === state.lintRun) page.dataset.lintState = "done";
  }
  const lintSoon = debounce(lint, 400);

  function changed() {
    state.dirty = true;
    showState();
    lintSoon();
  }

  // Every view (requirements diagram, each table) has its own viewer; each one reports its edits.
  function watchActiveViewer() {
    const viewer = modeler.getActiveViewer();
    if (!viewer || watched.has(viewer)) return;
    watched.add(viewer);
    viewer.get("eventBus").on("elements.changed", changed);
    viewer.get("eventBus").on("elements.changed", () => setTimeout(markProblems, 0));
  }

  function drawViews() {
    const active = modeler.getActiveView();
    const tabs = modeler.getViews().map((view) => el("a", {
      href: "#", class: active && view.element === active.element ? "active" : "",
      dataset: { testid: "dmn-view", view: view.element.id, type: view.type },
      onclick: (event) => { event.preventDefault(); modeler.open(view); },
    }, view.type === "drd" ? "Requirements diagram" : `${view.element.name || view.element.id}`));
    document.getElementById("dmn-views").replaceChildren(...tabs);
  }

  async function deploy() {
    const button = document.getElementById("deploy");
    button.disabled = true;
    say("Deploying…");
    try {
      const result = await api("POST", data.urls.deploy, { files: [{ name: fileName(), xml: await currentXml() }] });
      const mine = result.decisions.find((d) => d.key === state.key) || result.decisions[0];
      state.version = state.latest = mine.version;
      state.dirty = false;
      const fresh = result.decisions.filter((d) => d.isNew);
      say(fresh.length
        ? `Deployed ${fresh.map((d) => `${d.key} version ${d.version}`).join(", ")}. Processes use it from their next decision.`
        : `Nothing changed: version ${mine.version} of ${mine.key} is this file.`, "info");
      page.dataset.deployed = String(mine.version);
      showProblems([], result.warnings);
    } catch (error) {
      const found = (error.body && error.body.problems) || [{ message: error.message, severity: "error" }];
      showProblems(found.filter((p) => p.severity !== "warning"), found.filter((p) => p.severity === "warning"));
      say("Not deployed: " + error.message, "error");
    } finally {
      button.disabled = false;
      showState();
    }
  }

  // -- try the deployed decision --------------------------------------------------------------------------------
  function fillTry() {
    const select = document.getElementById("try-decision-key");
    const chosen = select.value || state.key;
    select.replaceChildren(...decisions().map((d) => el("option", { value: d.id, selected: d.id === chosen }, d.name || d.id)));
    const decision = decisions().find((d) => d.id === select.value);
    const table = decision && decision.decisionLogic;
    const inputs = {};
    for (const input of (table && table.input) || []) {
      const text = input.inputExpression && input.inputExpression.text;
      if (text && /^[A-Za-z_]\w*$/.test(text.trim())) inputs[text.trim()] = input.inputExpression.typeRef === "number" ? 0 : "";
    }
    document.getElementById("try-variables").value = JSON.stringify(inputs, null, 2);
  }

  async function evaluate() {
    const result = document.getElementById("try-result");
    let variables;
    try {
      variables = JSON.parse(document.getElementById("try-variables").value || "{}");
    } catch (error) {
      result.textContent = "The inputs are not JSON: " + error.message;
      result.dataset.status = "error";
      return;
    }
    const key = document.getElementById("try-decision-key").value;
    try {
      const outcome = await api("POST", data.urls.evaluate.replace("__KEY__", key), { variables });
      result.textContent = `Version ${outcome.version} decides ${JSON.stringify(outcome.result)}` +
        (outcome.matchedRules.length ? ` (rules ${outcome.matchedRules.join(", ")})` : " (no rule matched)");
      result.dataset.status = "done";
      result.dataset.result = JSON.stringify(outcome.result);
      for (const row of document.querySelectorAll("#dmn-canvas tr.matched")) row.classList.remove("matched");
      for (const id of outcome.matchedRules) {
        const cell = document.querySelector(`#dmn-canvas td[data-row-id="${CSS.escape(id)}"]`);
        if (cell) cell.closest("tr").classList.add("matched");
      }
    } catch (error) {
      result.textContent = error.message;
      result.dataset.status = "error";
    }
  }

  async function open(xml) {
    const { warnings } = await modeler.importXML(xml);
    const table = modeler.getViews().find((v) => v.type === "decisionTable" && v.element.id === state.key);
    if (table) await modeler.open(table);
    if (warnings.length) say("Opened with warnings: " + warnings.map((w) => w.message).join("; "), "error");
    watchActiveViewer();
    drawViews();
    fillTry();
    showState();
    lint();
  }

  async function start() {
    modeler.on("views.changed", () => {
      watchActiveViewer();
      drawViews();
      setTimeout(markProblems, 0);
    });
    try {
      await open(data.xml);
    } catch (error) {
      say("The decision could not be opened: " + error.message, "error");
      page.dataset.ready = "error";
      return;
    }
    document.getElementById("deploy").addEventListener("click", deploy);
    document.getElementById("download").addEventListener("click", async () => {
      download(fileName(), await currentXml(), "application/xml");
    });
    document.getElementById("open-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      try {
        const xml = await readDiagram(file, "DMN");
        say("");  // what an earlier file's failure said no longer holds
        await open(xml);
        changed();
      } catch (error) {
        say(error.message.startsWith(file.name) ? error.message
          : `${file.name} could not be opened as a DMN file: ${oneLine(error)}`, "error");
      }
      event.target.value = "";
    });
    document.getElementById("evaluate").addEventListener("click", evaluate);
    document.getElementById("try-decision-key").addEventListener("change", fillTry);
    window.addEventListener("beforeunload", (event) => {
      if (state.dirty && state.version) event.preventDefault();
    });
    page.dataset.ready = "true";
  }

  window.orderflowEditor = { modeler, xml: currentXml, lint, deploy, state };
  start();
})();
