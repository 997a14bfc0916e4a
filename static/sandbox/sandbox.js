// The sandbox page stays current without reloading: it polls the server for the rendered regions
// (header, messages, thread, app panel) and swaps those that changed; forms are sent with fetch.
// Everything also works without this script (plain forms and links).
(function () {
  "use strict";
  const POLL_MS = 1000;
  let layout, version, timer, polling = false;

  function swap(id, html) {
    const region = document.getElementById(id);
    if (!region || region.innerHTML === html) return;
    // Keep what the person is typing, and where the focus is, across the swap.
    const typed = {};
    region.querySelectorAll("textarea[id], input[type=text][id]").forEach((field) => { typed[field.id] = field.value; });
    const active = document.activeElement;
    const focusId = active && region.contains(active) ? active.id : null;
    const selection = focusId && "selectionStart" in active ? [active.selectionStart, active.selectionEnd] : null;
    region.innerHTML = html;
    Object.entries(typed).forEach(([fieldId, value]) => {
      const field = document.getElementById(fieldId);
      if (field) field.value = value;
    });
    if (focusId) {
      const again = document.getElementById(focusId);
      if (again) {
        again.focus();
        if (selection && "setSelectionRange" in again) again.setSelectionRange(selection[0], selection[1]);
      }
    }
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const response = await fetch(layout.dataset.liveUrl + "&v=" + encodeURIComponent(version), { headers: { "X-Requested-With": "fetch" } });
      if (response.status === 200) {
        const data = await response.json();
        version = data.version;
        Object.entries(data.regions).forEach(([name, html]) => swap("region-" + name, html));
      }
    } catch (error) {
      // The server restarting: try again on the next tick.
    } finally {
      polling = false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!document.hidden) await poll();
      schedule();
    }, POLL_MS);
  }

  function tell(text, isError) {
    const notice = document.getElementById("notice");
    if (!notice) return;
    notice.replaceChildren();
    if (!text) return;
    const line = document.createElement("p");
    line.className = "notice " + (isError ? "error" : "info");
    line.textContent = text;
    notice.appendChild(line);
  }

  async function send(form, submitter) {
    const body = new FormData(form, submitter);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((button) => { button.disabled = true; });
    try {
      const response = await fetch(form.action, { method: "POST", body, headers: { "X-Requested-With": "fetch" } });
      const data = await response.json();
      tell(data.error || data.notice, Boolean(data.error));
      if (response.ok && form.hasAttribute("data-composer")) {
        const text = form.querySelector("textarea");
        text.value = "";
        text.focus();
      }
    } catch (error) {
      tell("The sandbox did not answer: is the server running?", true);
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
    await poll();
  }

  document.addEventListener("DOMContentLoaded", () => {
    layout = document.querySelector("[data-live-url]");
    if (!layout) return;
    version = layout.dataset.version;
    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (!form.hasAttribute("data-live")) return;
      event.preventDefault();
      send(form, event.submitter);
    });
    // Slack's composer: Enter sends, Shift+Enter is a new line.
    document.addEventListener("keydown", (event) => {
      const field = event.target;
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || field.tagName !== "TEXTAREA") return;
      const form = field.closest("form[data-composer]");
      if (!form) return;
      event.preventDefault();
      form.requestSubmit();
    });
    schedule();
  });
})();
