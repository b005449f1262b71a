// The condition builder: "take this path when <variable> <operator> <value>", in and/or groups, written as the
// JUEL expression Camunda 7 and orderflow run (${total > 1000 && tier == "gold"}). What it writes it reads back, so
// a built condition opens in the builder again; anything else stays as the expert wrote it (raw expression).
(function () {
  const { el } = window.OrderflowModeling;

  const OPERATORS = [
    { id: "==", label: "is" },
    { id: "!=", label: "is not" },
    { id: ">", label: "is more than", types: ["number", "date", null] },
    { id: ">=", label: "is at least", types: ["number", "date", null] },
    { id: "<", label: "is less than", types: ["number", "date", null] },
    { id: "<=", label: "is at most", types: ["number", "date", null] },
    { id: "contains", label: "contains", types: ["string", "object", null] },
    { id: "empty", label: "is empty", noValue: true },
    { id: "notEmpty", label: "is not empty", noValue: true },
  ];
  const PATH = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
  const NUMBER = /^-?\d+(\.\d+)?$/;
  const WORDS = { and: "&&", or: "||", not: "!", eq: "==", ne: "!=", gt: ">", ge: ">=", lt: "<", le: "<=" };
  const RESERVED = ["true", "false", "null", "empty", "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le",
    "div", "mod", "instanceof"];

  function validVariable(name) {
    return PATH.test(name || "") && !RESERVED.includes(name.split(".")[0]);
  }

  // A value as a JUEL literal: numbers and yes/no as themselves when the type says so (or the text is one), the
  // rest as a double-quoted string.
  function literal(value, type) {
    const text = String(value === undefined || value === null ? "" : value).trim();
    if ((type === "boolean" || !type) && (text === "true" || text === "false")) return text;
    if ((type === "number" || !type) && NUMBER.test(text)) return text;
    return '"' + text.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  function ruleText(rule) {
    if (rule.op === "empty") return "empty " + rule.variable;
    if (rule.op === "notEmpty") return "!empty " + rule.variable;
    if (rule.op === "contains") return rule.variable + ".contains(" + literal(rule.value, "string") + ")";
    return rule.variable + " " + rule.op + " " + literal(rule.value, rule.type);
  }

  const JOIN = { and: " && ", or: " || " };

  // The JUEL text of a builder model, or "" when no rule is complete.
  function toJuel(model) {
    const groups = model.groups
      .map((group) => ({ join: group.join, rules: group.rules.filter((r) => validVariable(r.variable)) }))
      .filter((group) => group.rules.length);
    if (!groups.length) return "";
    const parts = groups.map((group) => {
      const text = group.rules.map(ruleText).join(JOIN[group.join]);
      return groups.length > 1 && group.rules.length > 1 ? "(" + text + ")" : text;
    });
    return "${" + parts.join(JOIN[model.join]) + "}";
  }

  function tokenize(text) {
    const tokens = [];
    let i = 0;
    while (i < text.length) {
      const rest = text.slice(i);
      let m;
      if ((m = /^\s+/.exec(rest))) {
        i += m[0].length;
      } else if ((m = /^("((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')/.exec(rest))) {
        const body = m[2] !== undefined ? m[2] : m[3];
        tokens.push({ t: "literal", type: "string", v: body.replace(/\\(.)/g, "$1") });
        i += m[0].length;
      } else if ((m = /^-?\d+(\.\d+)?/.exec(rest))) {
        tokens.push({ t: "literal", type: "number", v: m[0] });
        i += m[0].length;
      } else if ((m = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*/.exec(rest))) {
        const word = m[0];
        i += word.length;
        if (word === "true" || word === "false") tokens.push({ t: "literal", type: "boolean", v: word });
        else if (word === "empty") tokens.push({ t: "empty" });
        else if (WORDS[word]) tokens.push({ t: WORDS[word] });
        else if (word.endsWith(".contains") && /^\s*\(/.test(text.slice(i))) {
          tokens.push({ t: "contains", v: word.slice(0, -".contains".length) });
        } else tokens.push({ t: "path", v: word });
      } else if ((m = /^(&&|\|\||==|!=|>=|<=|>|<|!|\(|\))/.exec(rest))) {
        tokens.push({ t: m[0] });
        i += m[0].length;
      } else {
        return null;
      }
    }
    return tokens;
  }

  // A builder model for a JUEL text the builder could have written, else null.
  function parse(expression) {
    const match = /^\s*\$\{([\s\S]*)\}\s*$/.exec(expression || "");
    if (!match) return null;
    const tokens = tokenize(match[1]);
    if (!tokens || !tokens.length) return null;
    let pos = 0;
    const peek = () => tokens[pos] || { t: "end" };
    const take = (t) => (peek().t === t ? tokens[pos++] : null);

    function rule() {
      if (take("!")) {
        if (!take("empty")) return null;
        const path = take("path");
        return path && { variable: path.v, op: "notEmpty", value: "", type: null };
      }
      if (take("empty")) {
        const path = take("path");
        return path && { variable: path.v, op: "empty", value: "", type: null };
      }
      const contains = take("contains");
      if (contains) {
        if (!take("(")) return null;
        const value = take("literal");
        return value && take(")") && { variable: contains.v, op: "contains", value: value.v, type: value.type };
      }
      const path = take("path");
      const op = path && ["==", "!=", ">", ">=", "<", "<="].includes(peek().t) && tokens[pos++].t;
      const value = op && take("literal");
      return value ? { variable: path.v, op, value: value.v, type: value.type } : null;
    }

    function joined(item) {  // item (J item)*, one J throughout
      const items = [item()];
      let join = null;
      while (items[items.length - 1] && (peek().t === "&&" || peek().t === "||")) {
        const next = tokens[pos++].t === "&&" ? "and" : "or";
        if (join && join !== next) return null;  // a && b || c: precedence the builder cannot show
        join = next;
        items.push(item());
      }
      return items.every(Boolean) ? { join: join || "and", items } : null;
    }

    function groupOrRule() {
      if (!take("(")) return rule();
      const inner = joined(rule);
      return inner && take(")") ? { group: { join: inner.join, rules: inner.items } } : null;
    }

    const top = joined(groupOrRule);
    if (!top || pos !== tokens.length) return null;
    if (top.items.every((item) => !item.group)) {
      return { join: "and", groups: [{ join: top.join, rules: top.items }] };
    }
    const groups = top.items.map((item) => item.group || { join: "and", rules: [item] });
    return { join: top.join, groups };
  }

  function emptyRule() {
    return { variable: "", op: "==", value: "", type: null };
  }

  function emptyModel() {
    return { join: "and", groups: [{ join: "and", rules: [emptyRule()] }] };
  }

  // Draws the builder for `model` into `container`; calls onChange(juelText) after every edit. `variables` are the
  // known variables ({name, type, label, options}).
  function render(container, model, variables, onChange) {
    const byName = Object.fromEntries(variables.map((v) => [v.name, v]));
    const emit = () => onChange(toJuel(model));
    const redraw = () => render(container, model, variables, onChange);
    // "group-rule" of a rule: names its controls, so the panel can give focus back after it redraws
    const place = (rule) => {
      for (const [g, group] of model.groups.entries()) {
        if (group.rules.includes(rule)) return `${g}-${group.rules.indexOf(rule)}`;
      }
      return "";
    };

    function joinSelect(owner, testid, words) {
      return el("select", {
        dataset: { testid },
        onchange: (event) => { owner.join = event.target.value; emit(); },
      }, el("option", { value: "and", selected: owner.join === "and" }, words.and),
      el("option", { value: "or", selected: owner.join === "or" }, words.or));
    }

    function variableControl(rule) {
      const known = byName[rule.variable];
      const other = rule.variable !== "" && !known;
      const select = el("select", {
        dataset: { testid: "cb-variable", field: `cb-variable-${place(rule)}` },
        "aria-label": "Variable",
        onchange: (event) => {
          rule.variable = event.target.value === "(other)" ? "" : event.target.value;
          rule.other = event.target.value === "(other)";
          const type = (byName[rule.variable] || {}).type || null;
          rule.type = type;
          if (type === "boolean" && !["true", "false"].includes(rule.value)) rule.value = "true";
          redraw();
          emit();
        },
      }, el("option", { value: "", selected: !rule.variable && !rule.other }, "Pick a variable…"),
      variables.map((v) => el("option", { value: v.name, selected: v.name === rule.variable },
        v.label && v.label !== v.name ? `${v.name} (${v.label})` : v.name)),
      el("option", { value: "(other)", selected: other || rule.other }, "Another variable…"));
      if (!other && !rule.other) return select;
      const input = el("input", {
        value: rule.variable, placeholder: "variable name, e.g. customer.tier", dataset: { testid: "cb-variable-name", field: `cb-name-${place(rule)}` },
        "aria-label": "Variable name",
        onchange: (event) => {
          rule.variable = event.target.value.trim();
          input.classList.toggle("invalid", rule.variable !== "" && !validVariable(rule.variable));
          emit();
        },
      });
      return el("span", { class: "cb-other" }, select, input);
    }

    function valueControl(rule) {
      const operator = OPERATORS.find((o) => o.id === rule.op);
      if (operator && operator.noValue) return el("span");
      const known = byName[rule.variable] || {};
      const type = known.type || rule.type;
      const update = (event) => { rule.value = event.target.value; rule.type = type || null; emit(); };
      if (type === "boolean") {
        return el("select", { dataset: { testid: "cb-value", field: `cb-value-${place(rule)}` }, "aria-label": "Value", onchange: update },
          el("option", { value: "true", selected: rule.value !== "false" }, "yes (true)"),
          el("option", { value: "false", selected: rule.value === "false" }, "no (false)"));
      }
      if (known.options && known.options.length) {
        return el("select", { dataset: { testid: "cb-value", field: `cb-value-${place(rule)}` }, "aria-label": "Value", onchange: update },
          el("option", { value: "" }, ""),
          known.options.map((o) => el("option", { value: o.id, selected: o.id === rule.value }, o.name || o.id)));
      }
      const inputType = type === "number" ? "number" : type === "date" ? "date" : "text";
      return el("input", {
        type: inputType, value: rule.value, step: inputType === "number" ? "any" : undefined,
        placeholder: "value", dataset: { testid: "cb-value", field: `cb-value-${place(rule)}` }, "aria-label": "Value", onchange: update,
      });
    }

    function ruleRow(group, rule) {
      const known = byName[rule.variable] || {};
      const type = known.type || rule.type;
      const operators = OPERATORS.filter((o) => !o.types || !type || o.types.includes(type) || o.id === rule.op);
      return el("div", { class: "cb-rule", dataset: { testid: "cb-rule" } },
        variableControl(rule),
        el("select", {
          dataset: { testid: "cb-operator", field: `cb-operator-${place(rule)}` }, "aria-label": "Operator",
          onchange: (event) => { rule.op = event.target.value; redraw(); emit(); },
        }, operators.map((o) => el("option", { value: o.id, selected: o.id === rule.op }, o.label))),
        valueControl(rule),
        el("button", {
          type: "button", class: "link cb-remove", title: "Remove this condition", dataset: { testid: "cb-remove" },
          onclick: () => {
            group.rules.splice(group.rules.indexOf(rule), 1);
            if (!group.rules.length) model.groups.splice(model.groups.indexOf(group), 1);
            if (!model.groups.length) model.groups.push({ join: "and", rules: [emptyRule()] });
            redraw();
            emit();
          },
        }, "×"));
    }

    container.replaceChildren(...[
      model.groups.length > 1
        ? el("p", { class: "cb-join" }, "Take this path when ",
          joinSelect(model, "cb-join", { and: "all", or: "any" }), " of these groups hold:")
        : el("p", { class: "cb-join" }, "Take this path when"),
      model.groups.map((group) => el("fieldset", { class: "cb-group", dataset: { testid: "cb-group" } },
        group.rules.length > 1
          ? el("legend", {}, joinSelect(group, "cb-group-join", { and: "all of", or: "any of" }), " these:")
          : null,
        group.rules.map((rule) => ruleRow(group, rule)),
        el("button", {
          type: "button", class: "link", dataset: { testid: "cb-add-rule" },
          onclick: () => { group.rules.push(emptyRule()); redraw(); },
        }, group.join === "or" ? "+ or another condition" : "+ and another condition"))),
      el("button", {
        type: "button", class: "link", dataset: { testid: "cb-add-group" },
        onclick: () => {
          if (model.groups.length === 1) model.join = "or";  // a second group is usually an alternative
          model.groups.push({ join: "and", rules: [emptyRule()] });
          redraw();
        },
      }, "+ another group")].flat());
  }

  window.OrderflowConditions = { toJuel, parse, render, emptyModel, validVariable, literal, OPERATORS };
})();
