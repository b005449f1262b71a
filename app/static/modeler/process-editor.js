// The BPMN editor page: bpmn-js with orderflow's panel and the Camunda 7 panel, lint on every change (problems on
// the elements), deploy as a new version, and test orders drawn on the diagram as they run.
(function () {
  const { api, el, debounce, download, readDiagram, oneLine } = window.OrderflowModeling;
  const data = JSON.parse(document.getElementById("editor-data").textContent);
  const page = document.getElementById("modeler");
  const message = document.getElementById("modeler-message");
  const state = { key: data.key, version: data.version, latest: data.latest, dirty: !data.version, lintRun: 0 };

  const modeler = new window.OrderflowBpmnModeler.Modeler({
    container: "#canvas",
    propertiesPanel: { parent: "#camunda-panel" },
  });
  const canvas = modeler.get("canvas");
  const overlays = modeler.get("overlays");
  const registry = modeler.get("elementRegistry");

  function say(text, kind) {
    message.textContent = text;
    message.className = "flash " + (kind || "info");
    message.hidden = !text;
  }

  async function currentXml() {
    return (await modeler.saveXML({ format: true })).xml;
  }

  // The process that runs: the diagram's process, or the executable one of a collaboration's pools.
  function runningProcess() {
    const root = canvas.getRootElement().businessObject;
    if (root.$instanceOf("bpmn:Process")) return root;
    const pool = (root.participants || []).find((p) => p.processRef && p.processRef.isExecutable !== false);
    return pool ? pool.processRef : null;
  }

  function processKey() {
    const process = runningProcess();
    return process ? process.id : state.key;
  }

  function processName() {
    const process = runningProcess();
    return (process && process.name) || processKey();
  }

  function showState() {
    const badge = document.getElementById("version-state");
    let text = state.version ? `version ${state.version}` : "not deployed yet";
    if (state.version && state.latest && state.version !== state.latest) text += ` (latest is ${state.latest})`;
    if (state.dirty) text += " · changes not deployed";
    badge.textContent = text;
    badge.dataset.dirty = String(state.dirty);
    // The heading follows the diagram: a file opened (or a name typed in the panel) may change name and key.
    const name = document.getElementById("process-name");
    const key = document.getElementById("process-key");
    name.textContent = name.title = processName();
    key.textContent = key.title = processKey();
    document.title = `${processName()} · modeler · orderflow`;
  }

  // -- problems ---------------------------------------------------------------------------------------------
  let marked = [];
  function showProblems(errors, warnings) {
    overlays.remove({ type: "lint" });
    for (const [id, marker] of marked) canvas.removeMarker(id, marker);
    marked = [];
    const list = document.getElementById("problems");
    const items = [];
    const counts = {};
    for (const problem of [...errors, ...warnings]) {
      const severity = problem.severity === "warning" ? "warning" : "error";
      const element = problem.elementId && registry.get(problem.elementId);
      if (element && element.type !== "bpmn:Process" && !element.type.endsWith("Collaboration")) {
        counts[element.id] = counts[element.id] || { error: [], warning: [] };
        counts[element.id][severity].push(problem.message);
      }
      // The server names the element as a person would ("the flow from 'In stock?' to 'Ship'").
      const name = problem.elementName || (element ? element.businessObject.name || element.id : problem.elementId);
      items.push(el("li", {
        class: severity, dataset: { elementId: problem.elementId || "" },
        onclick: element ? () => { modeler.get("selection").select(element); canvas.scrollToElement(element); } : null,
      }, el("b", {}, severity === "error" ? "Error" : "Warning"), name ? ` at ${name}: ` : ": ", problem.message));
    }
    for (const [id, found] of Object.entries(counts)) {
      const severity = found.error.length ? "error" : "warning";
      const texts = [...found.error, ...found.warning];
      canvas.addMarker(id, "lint-" + severity);
      marked.push([id, "lint-" + severity]);
      overlays.add(id, "lint", {
        position: { top: -10, right: 10 },
        html: el("div", { class: "lint-badge " + severity, title: texts.join("\n"), dataset: { testid: "lint-badge" } },
          String(texts.length)),
      });
    }
    list.replaceChildren(...(items.length ? items : [el("li", { class: "ok" }, "No problems: orderflow can run this.")]));
    const summary = document.getElementById("lint-summary");
    summary.textContent = errors.length || warnings.length
      ? `${errors.length} error${errors.length === 1 ? "" : "s"}, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}`
      : "✓ no problems";
    page.dataset.lint = errors.length ? "errors" : warnings.length ? "warnings" : "clean";
  }

  async function lint() {
    const run = ++state.lintRun;
    page.dataset.lintState = "checking";
    try {
      const xml = await currentXml();
      const result = await api("POST", data.urls.lint, { files: [{ name: processKey() + ".bpmn", xml }] });
      if (run !== state.lintRun) return;  // a newer check is under way
      showProblems(result.errors, result.warnings);
    } catch (error) {
      if (run !== state.lintRun) return;
      showProblems([{ message: error.message, severity: "error" }], []);
    }
    page.dataset.lintState = "done";
  }
  const lintSoon = debounce(lint, 400);

  // -- deploy -----------------------------------------------------------------------------------------------
  async function deploy() {
    const button = document.getElementById("deploy");
    button.disabled = true;
    say("Deploying…");
    try {
      const key = processKey();
      const result = await api("POST", data.urls.deploy, { files: [{ name: key + ".bpmn", xml: await currentXml() }] });
      const definition = result.definitions.find((d) => d.key === key) || result.definitions[0];
      state.key = definition.key;
      state.version = state.latest = definition.version;
      state.dirty = false;
      history.replaceState(null, "", data.urls.page.replace("__KEY__", definition.key));
      document.getElementById("versions-link").href = data.urls.versions.replace("__KEY__", definition.key);
      const warnings = result.warnings.length ? ` with ${result.warnings.length} warning(s)` : "";
      say(definition.isNew
        ? `Deployed ${definition.key} version ${definition.version}${warnings}. New orders run this version.`
        : `Nothing changed: version ${definition.version} of ${definition.key} is this diagram.`, "info");
      page.dataset.deployed = String(definition.version);
      showProblems([], result.warnings);
      refreshCatalog();
    } catch (error) {
      const problems = (error.body && error.body.problems) || [{ message: error.message, severity: "error" }];
      showProblems(problems.filter((p) => p.severity !== "warning"), problems.filter((p) => p.severity === "warning"));
      say("Not deployed: " + error.message, "error");
    } finally {
      button.disabled = false;
      showState();
    }
  }

  // -- test orders --------------------------------------------------------------------------------------------
  let polling = null;
  let tokenMarks = [];

  function sampleVariables(variables) {
    const sample = {};
    const defaults = { number: 0, boolean: false, string: "", date: new Date().toISOString().slice(0, 10), object: {} };
    for (const v of variables.filter((x) => x.startValue)) {
      const path = v.name.split(".");
      let target = sample;
      for (const part of path.slice(0, -1)) {
        if (typeof target[part] !== "object" || target[part] === null) target[part] = {};
        target = target[part];
      }
      const value = v.example !== null && v.example !== undefined ? v.example : defaults[v.type];
      target[path[path.length - 1]] = value === undefined ? null : value;
    }
    return sample;
  }

  async function fillSample() {
    try {
      const variables = await knownVariables();
      document.getElementById("test-variables").value = JSON.stringify(sampleVariables(variables), null, 2);
    } catch (error) {
      say("The sample order could not be made: " + error.message, "error");
    }
  }

  function drawToken(progress) {
    for (const [id, marker] of tokenMarks) canvas.removeMarker(id, marker);
    tokenMarks = [];
    const mark = (id, marker) => {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
        tokenMarks.push([id, marker]);
      }
    };
    const passed = new Set(progress.passed);
    const active = new Set((progress.activeElements || []).map((a) => a.elementId));
    const stuck = new Set((progress.incidents || []).filter((i) => !i.resolvedAt).map((i) => i.elementId));
    for (const id of passed) if (!active.has(id) && !stuck.has(id)) mark(id, "token-passed");
    for (const flow of registry.filter((e) => e.type === "bpmn:SequenceFlow")) {
      if (passed.has(flow.source.id) && (passed.has(flow.target.id) || active.has(flow.target.id))) {
        mark(flow.id, "token-passed");
      }
    }
    for (const id of active) mark(id, stuck.has(id) ? "token-stuck" : "token-here");
    for (const id of stuck) mark(id, "token-stuck");
  }

  function describe(progress) {
    const name = (id) => { const e = registry.get(id); return e ? e.businessObject.name || id : id; };
    const order = progress.businessKey || progress.id;
    if (progress.status === "completed") {
      const ends = progress.passed.filter((id) => (registry.get(id) || {}).type === "bpmn:EndEvent");
      return `Order ${order} completed` + (ends.length ? ` at ${ends.map(name).join(", ")}.` : ".");
    }
    if (progress.status === "incident") {
      const open = (progress.incidents || []).filter((i) => !i.resolvedAt);
      return `Order ${order} stopped: ` + open.map((i) => `${name(i.elementId)}: ${i.message}`).join("; ");
    }
    const waiting = (progress.activeElements || []).map((a) => name(a.elementId));
    return `Order ${order} is ${progress.status}` + (waiting.length ? ` at ${waiting.join(", ")}.` : ".");
  }

  function showProgress(progress) {
    drawToken(progress);
    const status = document.getElementById("test-status");
    status.textContent = describe(progress);
    status.dataset.status = progress.status;
    status.dataset.passed = progress.passed.join(" ");
    const rows = Object.entries(progress.variables || {}).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, el("code", {}, JSON.stringify(v)))));
    document.getElementById("test-order-data").replaceChildren(...rows);
  }

  async function startTestOrder() {
    if (!state.version) {
      say("Deploy the process first: a test order runs the deployed version.", "error");
      return;
    }
    let variables;
    try {
      variables = JSON.parse(document.getElementById("test-variables").value || "{}");
    } catch (error) {
      say("The order data is not JSON: " + error.message, "error");
      return;
    }
    if (state.dirty) say(`The diagram has changes that are not deployed; the test order runs version ${state.latest}.`, "info");
    clearInterval(polling);
    try {
      const started = await api("POST", data.urls.testOrders.replace("__KEY__", state.key), {
        variables, businessKey: document.getElementById("test-business-key").value.trim() || undefined,
      });
      state.testOrder = started.id;  // scenarios.js records a scenario from it
      page.dispatchEvent(new CustomEvent("test-order-started", { detail: started }));
      const poll = async () => {
        try {
          const progress = await api("GET", data.urls.testOrder.replace("__ID__", started.id));
          showProgress(progress);
          if (progress.endedAt) clearInterval(polling);
        } catch (error) {
          clearInterval(polling);
          say("The test order could not be followed: " + error.message, "error");
        }
      };
      await poll();
      polling = setInterval(poll, 500);
    } catch (error) {
      say("The test order did not start: " + error.message, "error");
    }
  }

  // -- catalog, variables, wiring -----------------------------------------------------------------------------
  const catalog = { topics: [], groups: [], processes: [], decisions: [] };
  async function refreshCatalog() {
    Object.assign(catalog, await api("GET", data.urls.catalog));
  }

  async function knownVariables() {
    const result = await api("POST", data.urls.variables, { xml: await currentXml(), key: state.key });
    return result.items;
  }

  function wireTabs() {
    for (const tab of document.querySelectorAll("[data-tab]")) {
      tab.addEventListener("click", (event) => {
        event.preventDefault();
        for (const other of document.querySelectorAll("[data-tab]")) other.classList.toggle("active", other === tab);
        for (const panel of document.querySelectorAll("[data-tab-panel]")) panel.hidden = panel.dataset.tabPanel !== tab.dataset.tab;
      });
    }
  }

  async function open(xml) {
    const { warnings } = await modeler.importXML(xml);
    canvas.zoom("fit-viewport", "auto");
    if (canvas.zoom() > 1) canvas.zoom(1, "auto");
    if (warnings.length) say("Opened with warnings: " + warnings.map((w) => w.message).join("; "), "error");
    showState();
    lint();
  }

  async function start() {
    wireTabs();
    try {
      await refreshCatalog();
    } catch (error) {
      say("The lists of connectors, groups and decisions could not be loaded: " + error.message, "error");
    }
    new window.OrderflowPanel(modeler, document.getElementById("orderflow-panel"), {
      catalog, variables: knownVariables,
      links: {
        decision: (key) => data.urls.decisionPage.replace("__KEY__", key),
        process: (key) => data.urls.page.replace("__KEY__", key),
      },
    });
    try {
      await open(data.xml);
    } catch (error) {
      say("The diagram could not be opened: " + error.message, "error");
      page.dataset.ready = "error";
      return;
    }
    modeler.on("commandStack.changed", () => {
      state.dirty = true;
      showState();
      lintSoon();
    });
    document.getElementById("deploy").addEventListener("click", deploy);
    document.getElementById("download").addEventListener("click", async () => {
      download(processKey() + ".bpmn", await currentXml(), "application/xml");
    });
    document.getElementById("open-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      let xml;
      try {
        xml = await readDiagram(file, "BPMN");
      } catch (error) {
        say(error.message, "error");
        event.target.value = "";
        return;
      }
      try {
        say("");  // what an earlier file's failure said no longer holds
        await open(xml);
        state.dirty = true;
        showState();
      } catch (error) {
        say(`${file.name} could not be opened as a BPMN diagram: ${oneLine(error)}`, "error");
      }
      event.target.value = "";
    });
    document.getElementById("start-test").addEventListener("click", startTestOrder);
    document.getElementById("fill-sample").addEventListener("click", fillSample);
    window.addEventListener("beforeunload", (event) => {
      if (state.dirty && modeler.get("commandStack").canUndo()) event.preventDefault();
    });
    if (state.version) fillSample();
    page.dataset.ready = "true";
  }

  window.orderflowEditor = { modeler, xml: currentXml, lint, deploy, state };
  start();
})();
