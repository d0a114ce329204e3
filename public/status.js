// Keeps a status page (a board) fresh: every TTL it rereads the page's JSON (an unchanged
// snapshot costs a 304, thanks to its ETag) and updates values, statuses, charts and ages in
// place. Without JavaScript the page is complete as served; this only spares a reload. All
// texts come from the JSON, except ages, worded as the server words them
// (app::domain::wording::format_age).
//
// A signed-in role's view (`data-live` on <main>: the topics it follows) is live: it follows
// those topics on the live stream (/api/live, which sends only what the visitor may read) and,
// at most once per animation frame and never two at a time, rereads its JSON, which the server
// brings up to the newest messages. The public view never opens a stream.
(() => {
  "use strict";
  const main = document.getElementById("status");
  if (!main || !window.fetch) return;
  const url = main.dataset.json;
  const ttlMs = Math.max(1, Number(main.dataset.ttl) || 5) * 1000;
  // The server's clock minus ours, from the Date header, so ages agree with the server's.
  let skewMs = 0;

  const age = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  };

  const tickAges = () => {
    const now = Date.now() + skewMs;
    for (const time of main.querySelectorAll("time[data-at-ms]")) {
      const words = age(now - Number(time.dataset.atMs));
      if (time.textContent !== words) time.textContent = words;
    }
    const generated = main.querySelector("time[data-generated-ms]");
    if (generated) {
      const words = age(now - Number(generated.dataset.generatedMs));
      if (generated.textContent !== words) generated.textContent = words;
    }
  };

  const setTime = (time, atMs) => {
    if (!time || atMs == null || time.dataset.atMs === String(atMs)) return;
    time.dataset.atMs = atMs;
    time.setAttribute("datetime", new Date(atMs).toISOString());
  };

  // Only what changed is written: a live view rereads its JSON every frame, and every write
  // costs the page a style and layout pass.
  const setText = (node, text) => {
    if (node && node.textContent !== text) node.textContent = text;
  };
  const setClass = (node, name) => {
    if (node && node.className !== name) node.className = name;
  };
  // A drawing (a chart, a dial) is redrawn at most this often, its numbers every time: at a
  // hundred messages a second a chart moves less than a pixel a frame, and each redraw parses
  // its SVG anew.
  const DRAW_EVERY_MS = 1000;
  // The latest drawing waits for its turn, so the last of a burst is drawn too.
  const drawn = new WeakMap();
  const redraw = (box, svg) => {
    const last = drawn.get(box) ?? { svg: null, at: -Infinity, waiting: null };
    drawn.set(box, last);
    if (last.svg === svg) return;
    last.waiting = svg;
    const due = last.at + DRAW_EVERY_MS - performance.now();
    const draw = () => {
      if (last.waiting === null) return;
      box.innerHTML = last.waiting;
      last.svg = last.waiting;
      last.waiting = null;
      last.at = performance.now();
    };
    if (due <= 0) draw();
    else if (!last.timer) last.timer = setTimeout(() => ((last.timer = null), draw()), due);
  };

  const applyWidget = (el, widget) => {
    const value = el.querySelector(":scope > [data-value]");
    if (value && widget.kind !== "last_seen" && widget.kind !== "table") {
      setText(value, widget.text ?? "No value yet");
      value.classList.toggle("none", widget.text == null);
    }
    const level = el.querySelector("[data-level]");
    if (level && widget.status) {
      setClass(level, `level level-${widget.status}`);
      setText(level.querySelector("[data-level-text]"), widget.status_text);
    }
    setTime(el.querySelector(":scope > .seen time, :scope > [data-value] > time"), widget.last_seen_ms);
    // The server draws; the drawing (its text alternative included) is swapped in whole.
    const drawing = el.querySelector("[data-plot]");
    if (drawing && widget.plot) {
      redraw(drawing, widget.plot.svg);
      setText(el.querySelector("[data-plot-low]"), widget.plot.low);
      setText(el.querySelector("[data-plot-high]"), widget.plot.high);
      setText(el.querySelector("[data-plot-span]"), widget.plot.span);
    }
    const dial = el.querySelector("[data-gauge]");
    if (dial && widget.gauge) {
      redraw(dial, widget.gauge.svg);
      setText(el.querySelector("[data-gauge-scale]"), widget.gauge.scale_words);
    }
    for (const device of widget.devices ?? []) {
      const tr = el.querySelector(`tr[data-device="${CSS.escape(device.name)}"]`);
      if (!tr) continue;
      const state = tr.querySelector("[data-level]");
      setClass(state, `level level-${device.status}`);
      state.title = device.reason;
      setText(state.querySelector("[data-level-text]"), device.status_text);
      setTime(tr.querySelector("time"), device.last_seen_ms);
    }
    for (const row of widget.rows ?? []) {
      const tr = el.querySelector(`tr[data-topic="${CSS.escape(row.topic)}"]`);
      if (!tr) continue;
      setText(tr.querySelector("[data-value]"), row.text ?? "—");
      setTime(tr.querySelector("time"), row.last_seen_ms);
    }
  };

  const apply = (snapshot) => {
    const summary = main.querySelector("[data-summary]");
    if (summary && snapshot.summary) {
      summary.className = `status-summary level-${snapshot.summary}`;
      summary.querySelector("[data-summary-text]").textContent = snapshot.summary_text;
    }
    const generated = main.querySelector("time[data-generated-ms]");
    if (generated) {
      generated.dataset.generatedMs = snapshot.generated_at_ms;
      generated.setAttribute("datetime", new Date(snapshot.generated_at_ms).toISOString());
    }
    for (const widget of snapshot.widgets) {
      const el = document.getElementById(`w-${widget.id}`);
      if (el) applyWidget(el, widget);
    }
    tickAges();
  };

  const refresh = async () => {
    try {
      const response = await fetch(url, { cache: "no-cache", headers: { Accept: "application/json" } });
      if (response.ok) {
        const serverNow = Date.parse(response.headers.get("Date") ?? "");
        if (!Number.isNaN(serverNow)) skewMs = serverNow - Date.now();
        apply(await response.json());
        main.dataset.refreshedAt = String(Date.now());
      }
    } catch {
      // Offline or restarting: keep what is shown and try again at the next TTL.
    }
    setTimeout(refresh, ttlMs);
  };

  tickAges();
  setInterval(tickAges, 1000);
  setTimeout(refresh, ttlMs);

  // A slider's number field gets a slider beside it; the two move together, and the field is
  // what the form sends.
  for (const field of main.querySelectorAll("input[data-slider]")) {
    const range = document.createElement("input");
    range.type = "range";
    for (const name of ["min", "max", "step", "value"]) range.setAttribute(name, field.getAttribute(name));
    range.setAttribute("aria-label", field.labels?.[0]?.textContent.trim() || "Value");
    range.addEventListener("input", () => { field.value = range.value; });
    field.addEventListener("input", () => { range.value = field.value; });
    field.before(range);
  }

  // A control's press is sent without leaving the page; the widget says what became of it (the
  // broker's acknowledgement, or why not), and its value shows the state as it comes back.
  for (const form of main.querySelectorAll("form[data-control]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const outcome = form.parentElement.querySelector("[data-control-outcome]");
      const body = new URLSearchParams(new FormData(form, event.submitter));
      for (const button of form.querySelectorAll("button")) button.disabled = true;
      outcome.textContent = "Sending…";
      try {
        // Not form.action: the buttons are named "action", and the form's property names them.
        const response = await fetch(form.getAttribute("action"), { method: "POST", body, headers: { Accept: "application/json" } });
        const answer = await response.json();
        outcome.textContent = answer.words;
        outcome.dataset.outcome = answer.outcome;
      } catch {
        outcome.textContent = "Not sent: Lookout did not answer. Try again.";
        outcome.dataset.outcome = "unanswered";
      }
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    });
  }

  const follows = main.dataset.live ? JSON.parse(main.dataset.live) : null;
  if (!follows || !follows.length || !window.EventSource) return;
  const updated = main.querySelector(".status-updated");
  const say = (state, words) => {
    main.dataset.liveState = state;
    if (updated) updated.textContent = words;
  };
  let pulling = false;
  let again = false;
  let frame = 0;
  const pull = async () => {
    if (pulling) {
      again = true;
      return;
    }
    pulling = true;
    do {
      again = false;
      try {
        const response = await fetch(url, { cache: "no-cache", headers: { Accept: "application/json" } });
        if (response.ok) {
          apply(await response.json());
          main.dataset.liveAt = String(Date.now());
        }
      } catch {
        // The next message, or the TTL's refresh, tries again.
      }
    } while (again);
    pulling = false;
  };
  // Messages that arrive together cost one read, drawn in the next frame.
  const soon = () => {
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0;
      pull();
    });
  };
  // The newest message per topic, once a frame: the page needs to know that something changed,
  // not every message (at thousands a second, their events alone would take the main thread).
  const query = follows
    .map((filter) => `filter=${encodeURIComponent(filter)}`)
    .concat("conflate_ms=16")
    .join("&");
  const stream = new EventSource(`/api/live?${query}`);
  stream.addEventListener("message", soon);
  stream.addEventListener("resync", soon);
  stream.addEventListener("open", () => {
    say("live", "Live: values change as messages arrive.");
    soon();
  });
  stream.addEventListener("error", () => {
    say("reconnecting", "Reconnecting to the live stream; values refresh every TTL meanwhile.");
  });
})();
