// The app's logs: reads control's NDJSON stream (`dn logs` with follow) and
// appends each line as text, keeping the last MAX_LINES.
import { el } from "./dom.js";

const MAX_LINES = 1000;

/** Logs shown in one box; one stream at a time. */
export class LogView {
  /** `box` holds the lines; `onUnauthorized(error)` is called on a 401. */
  constructor(box, onUnauthorized) {
    this.box = box;
    this.onUnauthorized = onUnauthorized;
    this.abort = null;
  }

  /** Empties the box and stops the stream. */
  clear() {
    this.stop();
    this.box.replaceChildren();
  }

  /** Stops the stream. */
  stop() {
    this.abort?.abort();
    this.abort = null;
  }

  /** Adds one NDJSON entry: a line, a warning or an error. */
  append(entry) {
    const box = this.box;
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    let line;
    if (typeof entry.line === "string") {
      const meta = `${String(entry.time).slice(11, 23)} ${entry.host} `;
      line = el("div", {}, el("span", { class: "meta", textContent: meta }), entry.line);
    } else if (entry.warning !== undefined || entry.error !== undefined) {
      line = el("div", { class: "warning", textContent: String(entry.warning ?? entry.error) });
    } else {
      return;
    }
    box.append(line);
    while (box.childElementCount > MAX_LINES) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  /** Shows the last 200 lines of `app`, then new ones while `follow`. */
  async start(app, follow) {
    this.clear();
    const abort = new AbortController();
    this.abort = abort;
    const path = `api/apps/${encodeURIComponent(app)}/logs?tail=200${follow ? "&follow=1" : ""}`;
    try {
      const res = await fetch(path, { signal: abort.signal, credentials: "same-origin" });
      if (!res.ok) {
        const data = await res.json().catch(() => ({}));
        if (res.status === 401) this.onUnauthorized(data.error);
        else this.append({ error: `logs: ${data.error || res.status}` });
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = "";
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        const lines = (rest + value).split("\n");
        rest = lines.pop();
        for (const text of lines) {
          if (text.trim() === "") continue; // keep-alive
          try {
            this.append(JSON.parse(text));
          } catch {
            this.append({ warning: "unreadable log line" });
          }
        }
      }
    } catch (e) {
      if (!abort.signal.aborted) this.append({ error: `logs stopped: ${e.message}` });
    }
  }
}
