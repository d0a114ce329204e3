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
      if (served.has(box)) {
        // A zoomed chart keeps its window over the new drawing.
        served.set(box, last.waiting);
        showWindow(box);
      }
      last.svg = last.waiting;
      last.waiting = null;
      last.at = performance.now();
    };
    if (due <= 0) draw();
    else if (!last.timer) last.timer = setTimeout(() => ((last.timer = null), draw()), due);
  };

  // A multi-series chart's zoom: a drag across a drawing, or the buttons above it, narrows the
  // time shown to a window of what was drawn, without asking the server. The nested drawing's
  // viewBox is narrowed to the window, the time labels redrawn for it (as
  // app::domain::chart::time_ticks words them) and the dots moved; Reset shows the whole range.
  const MINUTE = 60000;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;
  const TICK_STEPS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR,
    2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  const MAX_TICKS = 6;
  const pad = (n) => String(n).padStart(2, "0");
  const clockOf = (ms) => {
    const t = new Date(ms);
    return `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}`;
  };
  const timeTicks = (from, to) => {
    const span = Math.max(1, to - from);
    const step = TICK_STEPS.find((s) => Math.floor(span / s) < MAX_TICKS) ?? 30 * DAY;
    const ticks = [];
    for (let at = Math.ceil(from / step) * step; at <= to && ticks.length < MAX_TICKS; at += step) {
      const t = new Date(at);
      ticks.push([at, at % DAY === 0 ? `${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}` : clockOf(at)]);
    }
    return ticks;
  };
  // Each zoomed drawing as the server drew it, and the window shown of it.
  const served = new WeakMap();
  const windows = new WeakMap();
  const extentOf = (svg) => ({
    from: Number(svg.dataset.fromMs),
    to: Number(svg.dataset.toMs),
    side: Number(svg.dataset.side) || 0,
  });
  const showWindow = (box) => {
    if (!served.has(box)) served.set(box, box.innerHTML);
    box.innerHTML = served.get(box);
    const svg = box.querySelector("svg.time-chart[data-from-ms]");
    const plot = svg?.querySelector("svg.plot-area");
    const said = box.closest(".chart-view")?.querySelector(".chart-zoom output");
    const asked = windows.get(box);
    if (!svg || !plot || !asked) {
      if (said) said.textContent = "Showing the whole range.";
      return;
    }
    const full = extentOf(svg);
    const from = Math.max(full.from, asked.from);
    const to = Math.min(full.to, asked.to);
    if (to <= from) return;
    const x = (ms) => full.side + ((ms - full.from) / (full.to - full.from)) * (100 - 2 * full.side);
    const [x0, x1] = [x(from), x(to)];
    plot.setAttribute("viewBox", `${x0.toFixed(3)} 0 ${(x1 - x0).toFixed(3)} 100`);
    svg.dataset.windowFromMs = String(from);
    svg.dataset.windowToMs = String(to);
    for (const dot of svg.querySelectorAll(":scope > circle")) {
      const at = ((parseFloat(dot.getAttribute("cx")) - x0) / (x1 - x0)) * 100;
      dot.setAttribute("cx", `${at.toFixed(2)}%`);
      dot.style.display = at < 0 || at > 100 ? "none" : "";
    }
    const group = svg.querySelector("g.time-ticks");
    if (group) {
      const grid = group.querySelector("line");
      const [top, bottom] = grid ? [grid.getAttribute("y1"), grid.getAttribute("y2")] : ["10%", "86%"];
      group.innerHTML = timeTicks(from, to).map(([at, label]) => {
        const p = ((at - from) / (to - from)) * 100;
        const anchor = p < 8 ? "start" : p > 92 ? "end" : "middle";
        return `<line class="grid" x1="${p.toFixed(2)}%" x2="${p.toFixed(2)}%" y1="${top}" y2="${bottom}"/>` +
          `<text class="label" x="${p.toFixed(2)}%" y="100%" dy="-6" text-anchor="${anchor}">${label}</text>`;
      }).join("");
    }
    if (said) said.textContent = `Showing ${clockOf(from)} to ${clockOf(to)} UTC.`;
  };
  // The window shown now: the one zoomed to, or the whole drawing (its side margins included).
  const shownOf = (box) => {
    const svg = box.querySelector("svg.time-chart[data-from-ms]");
    if (!svg) return null;
    const full = extentOf(svg);
    return { full, now: windows.get(box) ?? { from: full.from, to: full.to } };
  };
  const zoomTo = (box, from, to) => {
    const shown = shownOf(box);
    if (!shown) return;
    const { full } = shown;
    // No narrower than a minute, or a sixtieth of the range: the points drawn get no finer.
    const least = Math.max(MINUTE, (full.to - full.from) / 60);
    if (to - from < least) {
      const middle = (from + to) / 2;
      [from, to] = [middle - least / 2, middle + least / 2];
    }
    if (from <= full.from && to >= full.to) windows.delete(box);
    else {
      const width = Math.min(to - from, full.to - full.from);
      from = Math.min(Math.max(from, full.from), full.to - width);
      windows.set(box, { from, to: from + width });
    }
    showWindow(box);
  };
  const zoomBy = (box, factor) => {
    const shown = shownOf(box);
    if (!shown) return;
    const { now } = shown;
    const middle = (now.from + now.to) / 2;
    const half = ((now.to - now.from) * factor) / 2;
    zoomTo(box, middle - half, middle + half);
  };
  for (const view of main.querySelectorAll(".multi-chart .chart-view")) {
    const box = view.querySelector("[data-chart-plot]");
    if (!box) continue;
    const bar = document.createElement("div");
    bar.className = "chart-zoom";
    const button = (words, act) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = words;
      b.addEventListener("click", act);
      bar.append(b);
    };
    button("Zoom in", () => zoomBy(box, 0.5));
    button("Zoom out", () => zoomBy(box, 2));
    button("Reset zoom", () => {
      windows.delete(box);
      showWindow(box);
    });
    const said = document.createElement("output");
    said.setAttribute("aria-live", "polite");
    said.textContent = "Drag across the chart to zoom in.";
    bar.append(said);
    box.before(bar);
    // A drag across the drawing picks the window.
    let drag = null;
    box.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || !shownOf(box)) return;
      const rect = box.getBoundingClientRect();
      const mark = document.createElement("div");
      mark.className = "zoom-selection";
      box.append(mark);
      drag = { rect, start: event.clientX - rect.left, mark };
      box.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    const span = (event) => {
      const at = Math.min(Math.max(event.clientX - drag.rect.left, 0), drag.rect.width);
      return [Math.min(drag.start, at), Math.max(drag.start, at)];
    };
    box.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const [left, right] = span(event);
      drag.mark.style.left = `${left}px`;
      drag.mark.style.width = `${right - left}px`;
    });
    const end = (event, take) => {
      if (!drag) return;
      const [left, right] = span(event);
      const { rect, mark } = drag;
      drag = null;
      mark.remove();
      if (!take || right - left < 8) return;
      const { full, now } = shownOf(box);
      const zoomed = windows.has(box);
      // From a share of the drawing's width to a time: the whole drawing has side margins.
      const timeAt = (px) => {
        const percent = (px / rect.width) * 100;
        if (zoomed) return now.from + (percent / 100) * (now.to - now.from);
        return full.from + ((percent - full.side) / (100 - 2 * full.side)) * (full.to - full.from);
      };
      zoomTo(box, timeAt(left), timeAt(right));
    };
    box.addEventListener("pointerup", (event) => end(event, true));
    box.addEventListener("pointercancel", (event) => end(event, false));
  }

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
    for (const range of widget.chart?.ranges ?? []) {
      const view = el.querySelector(`.chart-view[data-range="${CSS.escape(range.range)}"]`);
      if (!view) continue;
      if (range.svg) redraw(view.querySelector("[data-chart-plot]"), range.svg);
      setText(view.querySelector("[data-chart-span]"), range.span);
    }
    (widget.chart?.legend ?? []).forEach((entry, index) => {
      const item = el.querySelector(`.chart-legend [data-series="${index}"]`);
      if (!item) return;
      setText(item.querySelector("[data-series-value]"), entry.text ?? "No value yet");
      setTime(item.querySelector("time"), entry.last_seen_ms);
    });
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
