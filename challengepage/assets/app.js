// Small conveniences only: every page works without this script.
(function () {
  "use strict";

  // Copy buttons start hidden and appear only where copying can work.
  function textOf(el) {
    var items = el.querySelectorAll("li");
    if (items.length) {
      return Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n");
    }
    return (el.getAttribute("data-value") || el.textContent).trim();
  }
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    var label = button.textContent;
    button.setAttribute("aria-live", "polite");
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(textOf(source)).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Copy failed: select the text instead";
      });
      setTimeout(function () { button.textContent = label; }, 2500);
    });
  });

  // Keep code fields to digits and spaces, whatever the keyboard or paste adds.
  document.querySelectorAll("input.code").forEach(function (input) {
    input.addEventListener("input", function () {
      var clean = input.value.replace(/[^0-9 ]/g, "");
      if (clean !== input.value) input.value = clean;
    });
  });

  // A second submit would send the same one-time code again and be refused.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sent", "1");
    });
  });
  // Pages restored by the back button must be usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      form.removeAttribute("data-sent");
    });
  });
})();
