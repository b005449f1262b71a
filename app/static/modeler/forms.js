// The form of a user task or start event, field by field (Camunda 7 camunda:formData): what the person is asked,
// which variable the answer goes into, its type and whether it is required. The inbox renders and checks it.
(function () {
  const { el } = window.OrderflowModeling;

  const TYPES = [
    ["string", "text"],
    ["long", "whole number"],
    ["double", "number"],
    ["boolean", "yes / no"],
    ["date", "date"],
    ["enum", "choice"],
  ];

  function extension(bo, type) {
    return ((bo.extensionElements && bo.extensionElements.values) || []).find((v) => v.$instanceOf(type));
  }

  // Changes go through bpmn-js commands (undo, redo, change events); new moddle objects get their $parent.
  function formEditor(modeler, element) {
    const modeling = modeler.get("modeling");
    const factory = modeler.get("bpmnFactory");
    const bo = element.businessObject;
    const formData = extension(bo, "camunda:FormData");
    const fields = formData ? formData.fields || [] : [];

    function ensureFormData() {
      let extensions = bo.extensionElements;
      if (!extensions) {
        extensions = factory.create("bpmn:ExtensionElements", { values: [] });
        extensions.$parent = bo;
        modeling.updateProperties(element, { extensionElements: extensions });
      }
      let data = extension(bo, "camunda:FormData");
      if (!data) {
        data = factory.create("camunda:FormData", { fields: [] });
        data.$parent = extensions;
        modeling.updateModdleProperties(element, extensions, { values: [...(extensions.values || []), data] });
      }
      return data;
    }

    function addField() {
      const data = ensureFormData();
      const taken = new Set((data.fields || []).map((f) => f.id));
      let n = (data.fields || []).length + 1;
      while (taken.has("field" + n)) n++;
      const field = factory.create("camunda:FormField", { id: "field" + n, label: "Field " + n, type: "string" });
      field.$parent = data;
      modeling.updateModdleProperties(element, data, { fields: [...(data.fields || []), field] });
    }

    function removeField(field) {
      modeling.updateModdleProperties(element, formData, { fields: fields.filter((f) => f !== field) });
    }

    function isRequired(field) {
      return ((field.validation && field.validation.constraints) || []).some((c) => c.name === "required");
    }

    function setRequired(field, required) {
      const others = ((field.validation && field.validation.constraints) || []).filter((c) => c.name !== "required");
      const constraints = required ? [...others, factory.create("camunda:Constraint", { name: "required" })] : others;
      if (!field.validation) {
        const validation = factory.create("camunda:Validation", { constraints });
        validation.$parent = field;
        constraints.forEach((c) => { c.$parent = validation; });
        modeling.updateModdleProperties(element, field, { validation });
      } else {
        constraints.forEach((c) => { c.$parent = field.validation; });
        modeling.updateModdleProperties(element, field.validation, { constraints });
      }
    }

    function setChoices(field, text) {
      const names = text.split(",").map((s) => s.trim()).filter(Boolean);
      const values = names.map((name) => {
        const value = factory.create("camunda:Value", { id: name.replace(/[^\w.-]+/g, "_"), name });
        value.$parent = field;
        return value;
      });
      modeling.updateModdleProperties(element, field, { values });
    }

    const rows = fields.map((field, index) => el("div", { class: "form-field", dataset: { testid: "form-field" } },
      el("input", {
        value: field.label || "", placeholder: "question", "aria-label": "Question", dataset: { field: `label-${index}` },
        onchange: (event) => modeling.updateModdleProperties(element, field, { label: event.target.value }),
      }),
      el("input", {
        value: field.id || "", placeholder: "variable", "aria-label": "Variable", class: "narrow",
        dataset: { field: `id-${index}`, testid: "form-field-id" },
        onchange: (event) => {
          const id = event.target.value.trim();
          if (window.OrderflowConditions.validVariable(id)) modeling.updateModdleProperties(element, field, { id });
          else event.target.classList.add("invalid");
        },
      }),
      el("select", {
        "aria-label": "Type", dataset: { field: `type-${index}`, testid: "form-field-type" },
        onchange: (event) => modeling.updateModdleProperties(element, field, { type: event.target.value }),
      }, TYPES.map(([id, label]) => el("option", { value: id, selected: (field.type || "string") === id }, label))),
      el("label", { class: "inline" }, el("input", {
        type: "checkbox", checked: isRequired(field), dataset: { field: `required-${index}`, testid: "form-field-required" },
        onchange: (event) => setRequired(field, event.target.checked),
      }), " required"),
      el("button", { type: "button", class: "link", title: "Remove this field", onclick: () => removeField(field) }, "×"),
      field.type === "enum" ? el("input", {
        class: "wide", placeholder: "choices, separated by commas", "aria-label": "Choices",
        value: (field.values || []).map((v) => v.name || v.id).join(", "), dataset: { field: `choices-${index}` },
        onchange: (event) => setChoices(field, event.target.value),
      }) : null));

    return el("div", { class: "form-editor" },
      rows.length ? rows : el("p", { class: "muted" }, "No questions yet."),
      el("button", { type: "button", class: "link", dataset: { testid: "form-add-field" }, onclick: addField },
        "+ add a question"));
  }

  window.OrderflowFormEditor = { formEditor, extension };
})();
