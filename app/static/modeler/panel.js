// orderflow's properties panel: for the selected element, what orderflow runs, picked from what exists (connector
// topics, groups, deployed decisions and processes, known variables) instead of typed. It writes the same Camunda 7
// attributes Camunda Modeler writes, through bpmn-js commands, so undo works and the "All properties" panel agrees.
(function () {
  const { el, debounce } = window.OrderflowModeling;
  const { formEditor, extension } = window.OrderflowFormEditor;
  const Conditions = window.OrderflowConditions;

  const RETRIES = [
    ["", "the connector's default"],
    ["R3/PT10S", "3 times, 10 seconds apart"],
    ["R5/PT1M", "5 times, a minute apart"],
    ["R3/PT10M", "3 times, 10 minutes apart"],
    ["R1/PT0S", "no retries"],
  ];
  const RESULT_SHAPES = [
    ["singleEntry", "one value (one rule, one output)"],
    ["singleResult", "one rule's outputs, as an object"],
    ["collectEntries", "a list of values (one output)"],
    ["resultList", "a list of objects (every rule, every output)"],
  ];
  const TIMER_KINDS = [
    ["timeDuration", "after a while", "PT10M, P2D"],
    ["timeDate", "at a moment", "2026-12-24T09:00:00Z"],
    ["timeCycle", "repeatedly", "R3/PT1H"],
  ];
  const DUE = /^P(?:T(\d+)H|(\d+)D)$/;
  // What a Camunda 7 call activity passes: [type, how to recognise it, what to write].
  const CALL_MAPPINGS = {
    in: ["camunda:In", (v) => v.variables === "all", { variables: "all" }],
    out: ["camunda:Out", (v) => v.variables === "all", { variables: "all" }],
    businessKey: ["camunda:In", (v) => Boolean(v.businessKey), { businessKey: "#{execution.processBusinessKey}" }],
  };

  // A topic for a new external worker, from the task's name ("Check stock" -> "check-stock").
  function workerTopic(bo) {
    const slug = (bo.name || "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
    return slug || bo.id;
  }

  function is(element, type) {
    return element && element.businessObject && element.businessObject.$instanceOf(type);
  }

  function section(title, testid, ...children) {
    return el("section", { class: "panel-section", dataset: { testid } }, el("h3", {}, title), ...children);
  }

  function field(label, control, hint) {
    return el("label", { class: "panel-field" }, el("span", {}, label), control, hint ? el("small", {}, hint) : null);
  }

  function select(options, value, onchange, attributes) {
    return el("select", { ...attributes, onchange: (event) => onchange(event.target.value) },
      options.map(([id, label]) => el("option", { value: id, selected: id === (value || "") }, label)));
  }

  class Panel {
    constructor(modeler, container, { catalog, variables, links }) {
      this.modeler = modeler;
      this.container = container;
      this.catalog = catalog;
      this.variables = variables;  // async () => known variables of the diagram as it is now
      this.links = links;
      this.modeling = modeler.get("modeling");
      this.factory = modeler.get("bpmnFactory");
      const redraw = debounce(() => this.render(), 30);
      const eventBus = modeler.get("eventBus");
      eventBus.on("selection.changed", redraw);
      eventBus.on("elements.changed", redraw);
      eventBus.on("import.done", redraw);
    }

    selected() {
      const selection = this.modeler.get("selection").get();
      if (selection.length !== 1) return this.modeler.get("canvas").getRootElement();
      const element = selection[0];
      return element.labelTarget || element;
    }

    render() {
      const element = this.selected();
      if (!element || !element.businessObject) return;
      this.fresh = this.container.dataset.element !== element.id;  // newly selected: read its variables again
      const focused = document.activeElement && this.container.contains(document.activeElement)
        ? document.activeElement.dataset.field : null;
      const sections = this.sections(element);
      this.container.replaceChildren(...sections);
      this.container.dataset.element = element.id;
      this.renders = (this.renders || 0) + 1;
      this.container.dataset.rendered = String(this.renders);  // tests wait for the panel to show a change
      if (focused) {
        const again = this.container.querySelector(`[data-field="${focused}"]`);
        if (again) again.focus();
      }
    }

    update(element, properties) {
      this.modeling.updateProperties(element, properties);
    }

    sections(element) {
      const bo = element.businessObject;
      if (is(element, "bpmn:Process")) return [this.processSection(element)];
      if (is(element, "bpmn:Collaboration")) {
        return [section("Collaboration", "collaboration",
          el("p", { class: "muted" }, "Select a pool to set its process's name and key."))];
      }
      const found = [this.generalSection(element)];
      if (is(element, "bpmn:Participant") && bo.processRef) found.push(this.processSection(element, bo.processRef));
      if (is(element, "bpmn:ServiceTask")) found.push(this.serviceSection(element));
      if (is(element, "bpmn:UserTask")) found.push(this.userTaskSection(element));
      if (is(element, "bpmn:UserTask") || (is(element, "bpmn:StartEvent") && !(bo.eventDefinitions || []).length)) {
        found.push(section(is(element, "bpmn:StartEvent") ? "Asked when an order starts" : "Form", "form",
          formEditor(this.modeler, element)));
      }
      if (is(element, "bpmn:BusinessRuleTask")) found.push(this.decisionSection(element));
      if (is(element, "bpmn:CallActivity")) found.push(this.callSection(element));
      const timer = (bo.eventDefinitions || []).find((d) => d.$instanceOf("bpmn:TimerEventDefinition"));
      if (timer) found.push(this.timerSection(element, timer));
      const message = (bo.eventDefinitions || []).find((d) => d.$instanceOf("bpmn:MessageEventDefinition"));
      if (message) found.push(this.messageSection(element, message));
      if (is(element, "bpmn:ReceiveTask")) found.push(this.messageSection(element, bo));
      if (is(element, "bpmn:SequenceFlow")) {
        const source = element.source;
        if (is(source, "bpmn:ExclusiveGateway") || is(source, "bpmn:InclusiveGateway")) {
          found.push(this.conditionSection(element));
        }
      }
      if (is(element, "bpmn:ExclusiveGateway") || is(element, "bpmn:InclusiveGateway")) {
        found.push(this.pathsSection(element));
      }
      return found;
    }

    pathsSection(gateway) {
      const flows = gateway.outgoing.filter((c) => is(c, "bpmn:SequenceFlow"));
      const name = (e) => e.businessObject.name || e.id;
      const when = (flow) => {
        if (gateway.businessObject.default === flow.businessObject) return "otherwise (default)";
        const condition = flow.businessObject.conditionExpression;
        return condition && condition.body ? "when " + condition.body : "no condition yet";
      };
      return section("Paths", "paths",
        el("p", { class: "muted" }, "Each path leaving the gateway needs a condition, or is the default (otherwise)."),
        el("ul", { class: "paths" }, flows.map((flow) => el("li", {},
          el("button", {
            type: "button", class: "link", dataset: { testid: "path", target: flow.target.id },
            onclick: () => this.modeler.get("selection").select(flow),
          }, `to ${name(flow.target)}`), flow.businessObject.name ? ` "${flow.businessObject.name}"` : "",
          el("br"), el("small", {}, when(flow))))));
    }

    processSection(element, process) {
      const bo = process || element.businessObject;
      const setProcess = (properties) => {
        if (process) this.modeling.updateModdleProperties(element, process, properties);
        else this.update(element, properties);
      };
      return section("Process", "process",
        field("Name", el("input", {
          value: bo.name || "", dataset: { field: "process-name", testid: "process-name" },
          onchange: (event) => setProcess({ name: event.target.value }),
        })),
        field("Key", el("input", {
          value: bo.id, dataset: { field: "process-key", testid: "process-key" },
          onchange: (event) => {
            const key = event.target.value.trim();
            if (/^[A-Za-z_][\w.-]*$/.test(key)) setProcess({ id: key });
            else event.target.classList.add("invalid");
          },
        }), "Orders start this process by its key; deploying a key again makes a new version."),
        el("label", { class: "inline" }, el("input", {
          type: "checkbox", checked: bo.isExecutable !== false, dataset: { field: "executable" },
          onchange: (event) => setProcess({ isExecutable: event.target.checked }),
        }), " orderflow runs this process (executable)"),
        el("p", { class: "muted" },
          "Draw with the palette on the left; select an element and use the pad beside it to add the next step."));
    }

    generalSection(element) {
      const bo = element.businessObject;
      return section(bo.$type.replace("bpmn:", "").replace(/([a-z])([A-Z])/g, "$1 $2"), "general",
        field("Name", el("input", {
          value: bo.name || "", dataset: { field: "name", testid: "element-name" },
          onchange: (event) => this.update(element, { name: event.target.value }),
        })),
        el("p", { class: "muted" }, "id ", el("code", {}, element.id)));
    }

    serviceSection(element) {
      const bo = element.businessObject;
      const topic = bo.get("camunda:topic") || "";
      const known = this.catalog.topics.includes(topic);
      const implemented = ["class", "expression", "delegateExpression"].find((a) => bo.get("camunda:" + a));
      const bind = (value) => {
        const properties = { "camunda:type": value ? "external" : undefined, "camunda:topic": value || undefined };
        for (const attribute of ["class", "expression", "delegateExpression"]) properties["camunda:" + attribute] = undefined;
        this.update(element, properties);
      };
      const systems = {};
      for (const t of this.catalog.topics) (systems[t.split(".")[0]] = systems[t.split(".")[0]] || []).push(t);
      const picker = el("select", {
        dataset: { field: "connector", testid: "connector" },
        onchange: (event) => bind(event.target.value === "(worker)" ? workerTopic(bo) : event.target.value),
      }, el("option", { value: "", selected: !topic }, "Pick what it calls…"),
      Object.entries(systems).map(([system, topics]) => el("optgroup", { label: system },
        topics.map((t) => el("option", { value: t, selected: t === topic }, t)))),
      el("option", { value: "(worker)", selected: Boolean(topic) && !known }, "An external worker (a topic of your own)…"));
      const retry = extension(bo, "camunda:FailedJobRetryTimeCycle");
      const cycle = retry ? retry.body || "" : "";
      const presets = RETRIES.some(([id]) => id === cycle) ? RETRIES : [...RETRIES, [cycle, cycle]];
      return section("What it calls", "service",
        field("Connector", picker, implemented
          ? `Implemented in Java (camunda:${implemented}); orderflow cannot run that: pick a connector or worker topic.`
          : "A built-in connector calls the system; any other topic waits for an external worker."),
        topic && !known ? field("Worker topic", el("input", {
          value: topic, dataset: { field: "topic", testid: "worker-topic" },
          onchange: (event) => bind(event.target.value.trim()),
        })) : null,
        field("When the system fails, retry", select(presets, cycle, (value) => this.setRetry(element, value),
          { dataset: { field: "retry", testid: "retry" } }), "A business error (declined, out of stock) is never retried."));
    }

    setRetry(element, body) {
      const bo = element.businessObject;
      let extensions = bo.extensionElements;
      const current = extension(bo, "camunda:FailedJobRetryTimeCycle");
      if (!body) {
        if (current) this.modeling.updateModdleProperties(element, extensions, {
          values: extensions.values.filter((v) => v !== current),
        });
        return;
      }
      if (current) {
        this.modeling.updateModdleProperties(element, current, { body });
        return;
      }
      if (!extensions) {
        extensions = this.factory.create("bpmn:ExtensionElements", { values: [] });
        extensions.$parent = bo;
        this.update(element, { extensionElements: extensions });
      }
      const retry = this.factory.create("camunda:FailedJobRetryTimeCycle", { body });
      retry.$parent = extensions;
      this.modeling.updateModdleProperties(element, extensions, { values: [...(extensions.values || []), retry] });
    }

    userTaskSection(element) {
      const bo = element.businessObject;
      const raw = bo.get("camunda:candidateGroups") || "";
      const chosen = raw.split(",").map((g) => g.trim()).filter(Boolean);
      const expression = raw.includes("${") || raw.includes("#{");
      const groups = [...new Set([...this.catalog.groups.map((g) => g.id), ...chosen])];
      const setGroups = (ids) => this.update(element, { "camunda:candidateGroups": ids.join(",") || undefined });
      const due = bo.get("camunda:dueDate") || "";
      const parsed = DUE.exec(due);
      let dueControl;
      if (due && !parsed) {  // an expression or a date: shown as written
        dueControl = el("input", {
          value: due, dataset: { field: "due-raw" },
          onchange: (event) => this.update(element, { "camunda:dueDate": event.target.value.trim() || undefined }),
        });
      } else {
        const amount = el("input", {
          type: "number", min: "1", value: parsed ? parsed[1] || parsed[2] : "", class: "narrow",
          dataset: { field: "due", testid: "due" }, onchange: () => setDue(),
        });
        const unit = select([["H", "hours"], ["D", "days"]], parsed && parsed[2] ? "D" : "H", () => setDue(),
          { dataset: { field: "due-unit", testid: "due-unit" } });
        const setDue = () => {
          const n = parseInt(amount.value, 10);
          this.update(element, { "camunda:dueDate": n > 0 ? (unit.value === "D" ? `P${n}D` : `PT${n}H`) : undefined });
        };
        dueControl = el("span", { class: "inline" }, amount, unit);
      }
      return section("Who does it", "user-task",
        expression
          ? field("Offered to groups", el("input", {
            value: raw, dataset: { field: "groups-raw" },
            onchange: (event) => this.update(element, { "camunda:candidateGroups": event.target.value || undefined }),
          }), "Computed by an expression.")
          : el("fieldset", { class: "panel-field", dataset: { testid: "groups" } }, el("legend", {}, "Offered to groups"),
            groups.length ? groups.map((id) => el("label", { class: "inline" }, el("input", {
              type: "checkbox", value: id, checked: chosen.includes(id), dataset: { field: `group-${id}` },
              onchange: (event) => setGroups(event.target.checked ? [...chosen, id] : chosen.filter((g) => g !== id)),
            }), " " + id)) : el("p", { class: "muted" }, "No groups exist yet (orderflow user add … --group).")),
        field("Due", dueControl, "Empty: no due date. Overdue tasks are flagged in the inbox."));
    }

    decisionSection(element) {
      const bo = element.businessObject;
      const ref = bo.get("camunda:decisionRef") || "";
      const decisions = this.catalog.decisions;
      const current = decisions.find((d) => d.key === ref);
      const pick = (key) => {
        const decision = decisions.find((d) => d.key === key);
        if (!decision) {
          this.update(element, { "camunda:decisionRef": key || undefined });
          return;
        }
        const single = decision.outputs.length === 1;
        this.update(element, {
          "camunda:decisionRef": key,
          "camunda:resultVariable": bo.get("camunda:resultVariable") || (single ? decision.outputs[0].name : key) || key,
          "camunda:mapDecisionResult": single ? "singleEntry" : "singleResult",
        });
      };
      const options = [["", "Pick a deployed decision…"], ...decisions.map((d) => [d.key, `${d.name || d.key} (${d.key})`])];
      if (ref && !current) options.push([ref, `${ref} (not deployed)`]);
      return section("Decision", "decision",
        field("Decides with", select(options, ref, pick, { dataset: { field: "decision", testid: "decision-ref" } }),
          current ? el("a", { href: this.links.decision(ref) }, "Open the decision table") : "Deploy the DMN file first, or with the diagram."),
        current ? el("p", { class: "muted" }, "Reads ", current.inputs.map((i) => i.expression).join(", ") || "nothing",
          "; gives ", current.outputs.map((o) => o.name).join(", ")) : null,
        field("Result goes into variable", el("input", {
          value: bo.get("camunda:resultVariable") || "", dataset: { field: "result-variable", testid: "result-variable" },
          onchange: (event) => this.update(element, { "camunda:resultVariable": event.target.value.trim() || undefined }),
        })),
        field("Result is", select(RESULT_SHAPES, bo.get("camunda:mapDecisionResult") || "resultList",
          (value) => this.update(element, { "camunda:mapDecisionResult": value }), { dataset: { field: "result-shape" } })));
    }

    callSection(element) {
      const bo = element.businessObject;
      const called = bo.calledElement || "";
      const processes = this.catalog.processes;
      const options = [["", "Pick a deployed process…"], ...processes.map((p) => [p.key, `${p.name || p.key} (${p.key})`])];
      if (called && !processes.some((p) => p.key === called)) options.push([called, `${called} (not deployed)`]);
      const mappings = ((bo.extensionElements && bo.extensionElements.values) || [])
        .filter((v) => v.$instanceOf("camunda:In") || v.$instanceOf("camunda:Out"));
      const pick = (key) => {
        this.update(element, { calledElement: key || undefined });
        if (key && !mappings.length) {  // Camunda 7 passes nothing unless told: start with the whole order
          for (const kind of Object.keys(CALL_MAPPINGS)) this.setMapping(element, kind, true);
        }
      };
      const checkbox = (kind, label) => el("label", { class: "inline" }, el("input", {
        type: "checkbox", checked: Boolean(this.mapping(element, kind)), dataset: { field: `call-${kind}`, testid: `call-${kind}` },
        onchange: (event) => this.setMapping(element, kind, event.target.checked),
      }), " " + label);
      return section("Calls", "call",
        field("Process", select(options, called, pick, { dataset: { field: "called", testid: "called-process" } }),
          called && processes.some((p) => p.key === called) ? el("a", { href: this.links.process(called) }, "Open it") : null),
        checkbox("in", "it gets all of this order's variables"),
        checkbox("out", "its variables come back when it ends"),
        checkbox("businessKey", "it has this order's number (business key)"));
    }

    mapping(element, kind) {
      const [type, test] = CALL_MAPPINGS[kind];
      return ((element.businessObject.extensionElements || {}).values || []).find((v) => v.$instanceOf(type) && test(v));
    }

    setMapping(element, kind, on) {
      const bo = element.businessObject;
      const current = this.mapping(element, kind);
      if (Boolean(current) === on) return;
      let extensions = bo.extensionElements;
      if (!on) {
        this.modeling.updateModdleProperties(element, extensions, { values: extensions.values.filter((v) => v !== current) });
        return;
      }
      if (!extensions) {
        extensions = this.factory.create("bpmn:ExtensionElements", { values: [] });
        extensions.$parent = bo;
        this.update(element, { extensionElements: extensions });
      }
      const [type, , attributes] = CALL_MAPPINGS[kind];
      const mapping = this.factory.create(type, attributes);
      mapping.$parent = extensions;
      this.modeling.updateModdleProperties(element, extensions, { values: [...(extensions.values || []), mapping] });
    }

    timerSection(element, timer) {
      const kind = TIMER_KINDS.find(([k]) => timer[k]) || TIMER_KINDS[0];
      const value = timer[kind[0]] ? timer[kind[0]].body || "" : "";
      const write = (which, text) => {
        const properties = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
        if (text) {
          properties[which] = this.factory.create("bpmn:FormalExpression", { body: text });
          properties[which].$parent = timer;
        }
        this.modeling.updateModdleProperties(element, timer, properties);
      };
      let kindSelect;
      const input = el("input", {
        value, placeholder: kind[2], dataset: { field: "timer", testid: "timer-value" },
        onchange: (event) => write(kindSelect.value, event.target.value.trim()),
      });
      kindSelect = select(TIMER_KINDS.map(([k, label]) => [k, label]), kind[0], (which) => write(which, input.value.trim()),
        { dataset: { field: "timer-kind", testid: "timer-kind" } });
      return section("Timer", "timer", field("Fires", kindSelect), field("When", input,
        "ISO 8601: PT10M is 10 minutes, P2D two days, R3/PT1H three times hourly; or ${…} for a computed value."));
    }

    messageSection(element, holder) {
      const definitions = this.modeler.getDefinitions();
      const messages = (definitions.rootElements || []).filter((r) => r.$instanceOf("bpmn:Message"));
      const current = holder.messageRef;
      const list = "known-messages";
      const set = (name) => {
        if (!name) {
          this.modeling.updateModdleProperties(element, holder, { messageRef: undefined });
          return;
        }
        let message = messages.find((m) => m.name === name);
        if (!message) {
          message = this.factory.create("bpmn:Message", { name });
          message.$parent = definitions;
          this.modeling.updateModdleProperties(element, definitions, {
            rootElements: [...(definitions.rootElements || []), message],
          });
        }
        this.modeling.updateModdleProperties(element, holder, { messageRef: message });
      };
      return section("Message", "message",
        field("Waits for the message named", el("input", {
          value: current ? current.name || "" : "", list, dataset: { field: "message", testid: "message-name" },
          onchange: (event) => set(event.target.value.trim()),
        }), "Sent with POST /api/v1/messages {\"name\": …, \"businessKey\": …}."),
        el("datalist", { id: list }, messages.map((m) => el("option", { value: m.name || "" }))));
    }

    conditionSection(flow) {
      const bo = flow.businessObject;
      const gateway = flow.source;
      const isDefault = gateway.businessObject.default === bo;
      const expression = bo.conditionExpression ? bo.conditionExpression.body || "" : "";
      const builderBox = el("div", { class: "condition-builder", dataset: { testid: "condition-builder" } });
      const raw = el("textarea", {
        rows: 2, value: expression, spellcheck: false, dataset: { field: "condition-raw", testid: "condition-raw" },
        onchange: (event) => this.setCondition(flow, event.target.value.trim()),
      });
      const model = expression ? Conditions.parse(expression) : Conditions.emptyModel();
      if (!isDefault) {
        if (model) {
          const draw = (variables) => {
            Conditions.render(builderBox, model, variables, (text) => {
              raw.value = text;
              this.setCondition(flow, text);
            });
            builderBox.dataset.ready = "true";
          };
          if (this.known && !this.fresh) {
            draw(this.known);  // redrawn after an edit of this flow: the variables are the same
          } else {
            builderBox.append(el("p", { class: "muted" }, "Finding the process's variables…"));
            this.variables().then((variables) => {
              this.known = variables;
              draw(variables);
            }, (error) => {
              builderBox.replaceChildren(el("p", { class: "flash error" }, "The variables could not be read: " + error.message));
            });
          }
        } else {
          builderBox.append(el("p", { class: "muted", dataset: { testid: "condition-hand-written" } },
            "This condition was written by hand; edit the expression below, or ",
            el("button", { type: "button", class: "link", onclick: () => this.setCondition(flow, "") }, "start over"),
            " with the builder."));
        }
      }
      return section("When is this path taken?", "condition",
        el("label", { class: "inline" }, el("input", {
          type: "checkbox", checked: isDefault, dataset: { field: "default-flow", testid: "default-flow" },
          onchange: (event) => {
            this.modeling.updateProperties(gateway, { default: event.target.checked ? bo : undefined });
            if (event.target.checked && bo.conditionExpression) this.setCondition(flow, "");
          },
        }), " Otherwise: the default path, when no other path's condition holds"),
        isDefault ? null : builderBox,
        isDefault ? null : el("details", { open: Boolean(expression) && !model },
          el("summary", {}, "Expression (JUEL, FEEL or Python)"), raw,
          el("small", {}, "What the builder writes; experts may edit it. orderflow checks it as you type.")));
    }

    setCondition(flow, text) {
      const bo = flow.businessObject;
      const current = bo.conditionExpression ? bo.conditionExpression.body || "" : "";
      if (text === current) return;
      let expression;
      if (text) {
        expression = this.factory.create("bpmn:FormalExpression", { body: text });
        expression.$parent = bo;
      }
      this.update(flow, { conditionExpression: expression });
    }
  }

  window.OrderflowPanel = Panel;
})();
