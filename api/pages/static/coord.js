// The coordinator's pages: the few things plain HTML cannot do (loaded as a file: the
// Content-Security-Policy allows no inline script).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) {
    event.preventDefault();
    window.print();
  }
});
