// Shared by the modeler pages: JSON calls on the page session (with the CSRF token base.html puts on <body>),
// building DOM without innerHTML, and a debounce.
(function () {
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.detail || body.title)) || "HTTP " + status);
      this.status = status;
      this.body = body || {};
    }
  }

  // A call to /modeler/api: resolves with the JSON answer, rejects with ApiError carrying the problem+json body.
  async function api(method, url, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrf;
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      data = { detail: text.slice(0, 300) };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // el("button", { class: "primary", onclick: fn, dataset: { testid: "x" } }, "Text", otherNode)
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "value" || (name in node && typeof value !== "string")) node[name] = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  function download(name, text, type) {
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // Files people open by mistake, told by their first bytes: named, instead of showing their bytes as text.
  const NOT_DIAGRAMS = [
    [[0x89, 0x50, 0x4e, 0x47], "a PNG image"], [[0xff, 0xd8, 0xff], "a JPEG image"], [[0x47, 0x49, 0x46, 0x38], "a GIF image"],
    [[0x25, 0x50, 0x44, 0x46], "a PDF document"], [[0x50, 0x4b, 0x03, 0x04], "a ZIP archive or an Office document"],
  ];

  // The text of a .bpmn/.dmn file a person picked, or an Error that says in one sentence what is wrong with it.
  async function readDiagram(file, kind) {
    const extension = kind === "BPMN" ? ".bpmn" : ".dmn";
    const advice = `open a ${extension} file saved by orderflow or Camunda Modeler`;
    const bytes = new Uint8Array(await file.arrayBuffer());
    const known = NOT_DIAGRAMS.find(([magic]) => magic.every((byte, i) => bytes[i] === byte));
    if (known) throw new Error(`${file.name} is ${known[1]}, not a ${kind} diagram: ${advice}.`);
    // UTF-16 by its byte order mark, else the encoding the XML declaration names (Latin-1 diagrams), else UTF-8.
    let encoding = "utf-8";
    if (bytes[0] === 0xff && bytes[1] === 0xfe) encoding = "utf-16le";
    else if (bytes[0] === 0xfe && bytes[1] === 0xff) encoding = "utf-16be";
    else {
      const declared = /^\s*<\?xml[^>]*encoding=["']([\w.-]+)["']/.exec(new TextDecoder("latin1").decode(bytes.slice(0, 200)));
      if (declared) encoding = declared[1].toLowerCase();
    }
    let text;
    try {
      text = new TextDecoder(encoding, { fatal: encoding.startsWith("utf") }).decode(bytes);
    } catch (error) {
      throw new Error(`${file.name} is not a ${kind} diagram (it is not text): ${advice}.`);
    }
    text = text.replace(/^\ufeff/, "");
    if (/[\u0000-\u0008\u000e-\u001f]/.test(text.slice(0, 4096)) || !text.trimStart().startsWith("<")) {
      throw new Error(`${file.name} is not a ${kind} diagram (it is not XML): ${advice}.`);
    }
    return text;
  }

  // What a library's error says, in one readable line (bpmn-js quotes the unparsable text it met).
  function oneLine(error) {
    const line = String((error && error.message) || error).split("\n")[0].replace(/[^\x20-\x7e\u00a0-\uffff]/g, "");
    return line.length > 160 ? line.slice(0, 157) + "…" : line;
  }

  window.OrderflowModeling = { api, ApiError, el, debounce, download, readDiagram, oneLine };
})();
