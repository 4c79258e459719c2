// The attendance page in the room: a click on "present" or "absent" is posted in the background
// and the page's content replaced by the page the server answers (the row, the counts, the
// quorum, its message), so that the list stays where it was on the tablet. Without this script,
// or when the answer is not the page, the form is posted as usual and the page reloads.
(function () {
  var busy = false;
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form.attendance-buttons");
    if (!form || !window.fetch || busy) return;
    event.preventDefault();
    // The button clicked is the value posted, in the background as on the fallback's post.
    if (event.submitter && event.submitter.name) {
      var value = document.createElement("input");
      value.type = "hidden";
      value.name = event.submitter.name;
      value.value = event.submitter.value;
      form.appendChild(value);
    }
    var data = new FormData(form);
    busy = true;
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var content = page.querySelector(".assembly-room");
        if (!content) throw new Error("not the attendance page");
        document.querySelector(".assembly-room").replaceWith(content);
        var messages = page.querySelector(".messagelist");
        var shown = document.querySelector(".messagelist");
        if (shown) shown.remove();
        if (messages) {
          var main = document.querySelector("#content");
          main.parentNode.insertBefore(messages, main);
        }
        busy = false;
      })
      .catch(function () {
        busy = false;
        HTMLFormElement.prototype.submit.call(form);
      });
  });
})();
