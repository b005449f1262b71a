// Behaviour every page shares, kept out of the HTML so the Content-Security-Policy can forbid inline scripts.
// A <select data-autosubmit> submits its form when a choice is made (the filters of the monitoring pages).
document.addEventListener("change", (event) => {
  const select = event.target.closest && event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.submit();
});
