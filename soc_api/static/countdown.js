// Counts every "time left" cell down from the seconds the server computed with its clock,
// so the countdown agrees with the deadline even when the browser's clock is off.
(function () {
  var loadedAt = Date.now();
  function format(seconds) {
    var overdue = seconds < 0, s = Math.abs(seconds);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    var text = (d ? d + "天" : "") + h + "时" + (m < 10 ? "0" : "") + m + "分" + (sec < 10 ? "0" : "") + sec + "秒";
    return overdue ? "已超时 " + text : "剩余 " + text;
  }
  function tick() {
    var elapsed = Math.floor((Date.now() - loadedAt) / 1000);
    document.querySelectorAll("[data-seconds-left]").forEach(function (cell) {
      var left = parseInt(cell.getAttribute("data-seconds-left"), 10) - elapsed;
      cell.textContent = format(left);
      cell.classList.toggle("overdue", left < 0);
      cell.classList.toggle("urgent", left >= 0 && left < 3600);
    });
  }
  tick();
  setInterval(tick, 1000);
})();
