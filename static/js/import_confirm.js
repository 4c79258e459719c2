// The import's confirm button, when refused rows make the "import the valid rows" box a must:
// disabled, with its reason shown beside it, until the box is ticked. Without this script the
// button stays usable, the reason is shown all the same, and the server answers an unticked
// confirmation with the same reason.
document.querySelectorAll("form.import-confirm").forEach(function (form) {
  var box = form.querySelector("input[name=skip_invalid]");
  var button = form.querySelector("input.import-confirm-submit");
  var reason = form.querySelector(".import-confirm-reason");
  if (!box || !button || !reason) return;
  function update() {
    button.disabled = !box.checked;
    reason.hidden = box.checked;
  }
  box.addEventListener("change", update);
  update();
});
