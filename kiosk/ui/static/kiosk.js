/* Masar kiosk: inactivity countdown, back-button safety, speaker buttons, on-screen keyboard,
   and the identification screen's live preview. No framework, no network but this kiosk. */
"use strict";

/* A page restored from the browser's back/forward cache is never shown: ask the kiosk again,
   which answers with the attract screen once the session is over. */
window.addEventListener("pageshow", function (event) {
  if (event.persisted) { location.reload(); }
});

function post(url, data) {
  const body = new URLSearchParams(data || {});
  return fetch(url, { method: "POST", body: body, credentials: "same-origin" });
}

/* --- inactivity: a visible countdown, then logout --------------------------------------- */
(function () {
  const body = document.body;
  if (!body.dataset.timeout) { return; }
  const timeout = parseFloat(body.dataset.timeout);
  const warnFor = Math.min(15, timeout / 2);
  const box = document.getElementById("countdown");
  // The kiosk's own clock restarts only when a request reaches it, so the deadline shown
  // counts from the last request, never from a touch the kiosk has not heard of.
  let lastPing = Date.now() - (timeout - parseFloat(body.dataset.remaining || timeout)) * 1000;
  let deadline = lastPing + timeout * 1000;
  function activity() {
    if (box) { box.hidden = true; }
    const warning = deadline - Date.now() <= warnFor * 1000;
    if (Date.now() - lastPing > 5000 || warning) {
      lastPing = Date.now();
      deadline = lastPing + timeout * 1000;
      post("/touch").then(function (r) { return r.json(); }).then(function (state) {
        if (!state.live) { location.replace("/logout?why=timeout"); }
      }).catch(function () {});
    }
  }
  ["pointerdown", "keydown", "input", "scroll"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true, capture: true });
  });
  setInterval(function () {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) { location.replace("/logout?why=timeout"); return; }
    if (box && left <= warnFor) {
      box.hidden = false;
      box.textContent = box.dataset.text.replace("{s}", String(left));
    }
  }, 250);
})();

/* --- a form is sent once: a second tap (Send, Next, "I want to join") does nothing ---------- */
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
}, true);

/* --- speaker buttons ---------------------------------------------------------------------- */
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-audio]");
  if (!button) { return; }
  event.preventDefault();
  new Audio(button.dataset.audio).play().catch(function () {});
});

/* --- on-screen keyboard: Arabic, Latin, digits -------------------------------------------- */
const LAYOUTS = {
  arabic: ["ضصثقفغعهخحج", "شسيبلاتنمكط", "ئءؤرىةوزظدذ"],
  latin: ["azertyuiop", "qsdfghjklm", "wxcvbnéèàç"],
  digits: ["123", "456", "789", "0"],
  numbers: ["1234567890", "/-.,'"],  // in text: prison numbers, dates, addresses
  decimal: ["123", "456", "789", ",0-"],
};
function buildKeyboard(holder) {
  const input = document.getElementById(holder.dataset.for);
  const kind = input.dataset.keyboard;
  const modes = kind === "text" ? ["arabic", "latin", "numbers"] : [kind];
  let mode = kind === "text" ? (document.documentElement.lang === "fr" ? "latin" : "arabic") : kind;
  const labels = { arabic: "ع", latin: "abc", numbers: "123" };
  function key(text, action, extra) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = extra || "";
    b.addEventListener("click", function () { action(); input.dispatchEvent(new Event("input")); });
    return b;
  }
  function type(ch) { input.value += ch; }
  function render() {
    holder.textContent = "";
    LAYOUTS[mode].forEach(function (row) {
      const line = document.createElement("div"); line.className = "row";
      Array.from(row).forEach(function (ch) { line.appendChild(key(ch, function () { type(ch); })); });
      holder.appendChild(line);
    });
    const last = document.createElement("div"); last.className = "row";
    if (modes.length > 1) {
      modes.forEach(function (m) {
        last.appendChild(key(labels[m], function () { mode = m; render(); },
          "mode" + (m === mode ? " current" : "")));
      });
      last.appendChild(key("␣", function () { type(" "); }, "wide"));
    }
    last.appendChild(key("⌫", function () { input.value = Array.from(input.value).slice(0, -1).join(""); }, "erase"));
    last.appendChild(key("✕", function () { input.value = ""; }, "clear"));
    holder.appendChild(last);
  }
  input.addEventListener("focus", function () { input.blur(); });  // no system keyboard
  render();
}
document.querySelectorAll(".keyboard[data-for]").forEach(buildKeyboard);

/* --- identification screen: live preview, face box, guidance, outcome --------------------- */
(function () {
  const screen = document.getElementById("identify");
  if (!screen) { return; }
  const img = document.getElementById("preview");
  const box = document.getElementById("face-box");
  const guidance = document.getElementById("guidance");
  const stepText = document.getElementById("step");
  const done = document.getElementById("done");
  let stopped = false;
  if (img) {
    img.addEventListener("load", function () { setTimeout(refresh, 120); });
    img.addEventListener("error", function () { setTimeout(refresh, 1000); });
  }
  function refresh() {
    if (!stopped && img) { img.src = screen.dataset.preview + "?t=" + Date.now(); }
  }
  // A form on the page is being sent (a PIN, a choice): its answer replaces the page, so
  // the poll must not reload it at the same time.
  document.addEventListener("submit", function () { stopped = true; });
  function show(state) {
    if (state.key !== undefined && screen.dataset.key !== undefined && state.key !== screen.dataset.key) {
      stopped = true; location.reload(); return;
    }
    const frames = document.getElementById("frames");
    if (frames && state.frames) { frames.textContent = state.frames; }
    if (stepText && state.step_text !== undefined) { stepText.textContent = state.step_text; }
    if (guidance) { guidance.textContent = state.guidance || ""; }
    const error = document.getElementById("flow-error");
    if (error) { error.textContent = state.error || ""; error.hidden = !state.error; }
    const speak = document.getElementById("speak");
    if (speak && state.prompt) { speak.dataset.audio = "/prompt/" + state.prompt + ".wav"; }
    screen.dataset.step = state.step || "";
    document.querySelectorAll("[data-show-on]").forEach(function (el) {
      const options = (state.options || []).length;
      el.hidden = el.dataset.showOn.split(" ").indexOf(state.step) < 0 ||
        options < parseInt(el.dataset.minOptions || "0", 10);
    });
    if (box && img) {
      if (state.box) {
        box.hidden = false;
        box.style.left = (state.box[0] * img.clientWidth) + "px";
        box.style.top = (state.box[1] * img.clientHeight) + "px";
        box.style.width = ((state.box[2] - state.box[0]) * img.clientWidth) + "px";
        box.style.height = ((state.box[3] - state.box[1]) * img.clientHeight) + "px";
        box.classList.toggle("good", !state.guidance);
      } else { box.hidden = true; }
    }
    if (state.finished && done) { stopped = true; done.submit(); }
  }
  function poll() {
    if (stopped) { return; }
    fetch(screen.dataset.state, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (state) { show(state); setTimeout(poll, 250); })
      .catch(function () { setTimeout(poll, 1000); });
  }
  refresh(); poll();
})();

/* --- attract screen: a badge tapped on the reader begins, like the Start button ------------ */
(function () {
  const watch = document.getElementById("attract-watch");
  if (!watch) { return; }
  function poll() {
    fetch(watch.dataset.state, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (state) { if (state.go) { location.assign(state.go); } else { setTimeout(poll, 700); } })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
