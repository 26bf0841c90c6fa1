// Small DOM helpers of the dashboard. Values are only ever put on the page as
// text: `el` sets properties (textContent, title, ...) and appends strings as
// text nodes; nothing here parses HTML.

/** The element with this id; throws when the page lacks it. */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page has no #${id}`);
  return node;
}

/** An element with properties and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

/**
 * Puts `rows` into the table's body, each cell labelled with its column's
 * header (`data-label`), which the phone layout shows before the value.
 */
export function fillTable(table, rows) {
  const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const row of rows) {
    [...row.cells].forEach((cell, i) => cell.setAttribute("data-label", labels[i] ?? ""));
  }
  table.querySelector("tbody").replaceChildren(...rows);
}

/** A duration in ms as `42s`, `3m 12s`, `5h 2m` or `3d 4h`. */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/**
 * Asks in the modal #confirm dialog (Cancel focused first; Escape cancels);
 * resolves true on Confirm.
 */
export function confirmAction(text, label) {
  const dialog = $("confirm");
  const ok = $("confirm-ok");
  const cancel = $("confirm-cancel");
  $("confirm-text").textContent = text;
  ok.textContent = label;
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
      dialog.removeEventListener("cancel", no);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => finish(true);
    const no = () => finish(false);
    ok.addEventListener("click", yes);
    cancel.addEventListener("click", no);
    dialog.addEventListener("cancel", no);
    dialog.showModal();
    cancel.focus();
  });
}
