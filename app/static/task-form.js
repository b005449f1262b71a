// A Camunda Form (form-js) on a task page: rendered from its schema with the order's data; on Complete its data
// goes to the server as one JSON field, where the same rules are checked again.
(function () {
  const container = document.getElementById("formjs");
  const htmlForm = document.getElementById("task-form");
  if (!container || !htmlForm || !window.OrderflowForms) return;
  const schema = JSON.parse(document.getElementById("form-schema").textContent);
  const data = JSON.parse(document.getElementById("form-data").textContent);
  const form = new window.OrderflowForms.Form({ container });
  form.importSchema(schema, data).then(() => { container.dataset.ready = "true"; });
  htmlForm.addEventListener("submit", (event) => {
    const result = form.submit();
    if (Object.keys(result.errors || {}).length) {
      event.preventDefault();  // form-js shows each field's problem
      return;
    }
    document.getElementById("form-variables").value = JSON.stringify(result.data);
  });
})();
