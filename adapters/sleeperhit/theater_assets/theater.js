// SleeperHit table-read theater: plays the read and follows it line by line.
// The page carries every entry's start/end (ms) in data attributes; the audio element's clock
// is the only source of truth, so seeking, pausing and buffering stalls never desynchronise.
(function () {
  "use strict";
  var audio = document.getElementById("read-audio");
  var button = document.getElementById("play");
  var bar = document.getElementById("progress-bar");
  var track = document.getElementById("progress");
  var clock = document.getElementById("clock");
  var status = document.getElementById("player-status");
  if (!audio || !button) return;

  var entries = Array.prototype.slice.call(document.querySelectorAll(".entry[data-start]"));
  entries.sort(function (a, b) { return +a.dataset.start - +b.dataset.start; });
  var starts = entries.map(function (e) { return +e.dataset.start || 0; });
  var current = null;
  var frame = 0;
  var reduceMotion = window.matchMedia &&
    window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  // The entry being spoken is the last one that has started: through the pause after a line
  // it stays lit, so the highlight moves once per line instead of flickering off between them.
  function entryAt(ms) {
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= ms) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found < 0 ? null : entries[found];
  }

  function highlight(entry) {
    if (entry === current) return;
    if (current) {
      current.classList.remove("speaking");
      current.removeAttribute("aria-current");
    }
    current = entry;
    if (!entry) return;
    entry.classList.add("speaking");
    entry.setAttribute("aria-current", "true");
    entry.scrollIntoView({ block: "center", behavior: reduceMotion ? "auto" : "smooth" });
  }

  function fmt(seconds) {
    if (!isFinite(seconds) || seconds < 0) seconds = 0;
    var s = Math.floor(seconds);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function duration() {
    if (isFinite(audio.duration) && audio.duration > 0) return audio.duration;
    var last = entries.length ? +entries[entries.length - 1].dataset.end : 0;
    return last > 0 ? last / 1000 : 0;
  }

  function sync() {
    var t = audio.currentTime;
    // Before playback starts nothing is lit; a paused seek to 0 keeps what the listener chose.
    highlight(t > 0 || !audio.paused ? entryAt(t * 1000) : current);
    var total = duration();
    if (bar) bar.style.width = (total ? Math.min(100, (t / total) * 100) : 0) + "%";
    if (clock) clock.textContent = fmt(t) + " / " + fmt(total);
  }

  function tick() {
    sync();
    frame = audio.paused ? 0 : window.requestAnimationFrame(tick);
  }

  function setButton(playing) {
    button.textContent = playing ? "Pause" : "Play";
    button.setAttribute("aria-label", playing ? "Pause the table read" : "Play the table read");
    button.setAttribute("aria-pressed", playing ? "true" : "false");
  }

  function play() {
    var started = audio.play();
    if (started && started.catch) {
      started.catch(function (err) {
        if (status) status.textContent = "Playback could not start: " + (err && err.name);
        setButton(false);
      });
    }
  }

  function seekTo(seconds) {
    audio.currentTime = Math.max(0, seconds);
    sync();
  }

  button.addEventListener("click", function () {
    if (audio.paused) play(); else audio.pause();
  });
  audio.addEventListener("play", function () {
    setButton(true);
    if (status) status.textContent = "";
    if (!frame) frame = window.requestAnimationFrame(tick);
  });
  audio.addEventListener("pause", function () { setButton(false); sync(); });
  audio.addEventListener("ended", function () { setButton(false); sync(); });
  audio.addEventListener("timeupdate", sync);
  audio.addEventListener("seeked", sync);
  audio.addEventListener("loadedmetadata", sync);
  audio.addEventListener("error", function () {
    if (status) status.textContent = "The audio for this read could not be loaded.";
    setButton(false);
  });

  entries.forEach(function (entry) {
    function jump() {
      seekTo((+entry.dataset.start || 0) / 1000);
      highlight(entry);
      if (audio.paused) play();
    }
    entry.addEventListener("click", jump);
    entry.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); jump(); }
    });
  });

  if (track) {
    track.addEventListener("click", function (ev) {
      var rect = track.getBoundingClientRect();
      var total = duration();
      if (rect.width > 0 && total) seekTo(((ev.clientX - rect.left) / rect.width) * total);
    });
  }

  // Space toggles playback anywhere on the page except on controls that use it themselves.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== " " || ev.defaultPrevented) return;
    var tag = ev.target && ev.target.tagName;
    if (tag === "BUTTON" || tag === "A" || tag === "INPUT" || tag === "TEXTAREA") return;
    ev.preventDefault();
    if (audio.paused) play(); else audio.pause();
  });

  setButton(false);
  sync();
})();
