"use strict";
// The settings pages' shell (/settings/<section>): the section list, the section the path names,
// and what the sections share. Each section registers itself (settings-accounts.js,
// settings-collectors.js) with who may see it; the nav lists only those, and a section the
// caller may not use is never loaded, so its data is never asked for. The API refuses anyway
// (model/auth.py Principal.may_*); hiding is for the user, not the wall.
const SETTINGS = (() => {
  const sections = [];
  const ORDER = ["account", "users", "keys", "collectors", "tenants", "audit"];

  const isAdmin = (me) => me.kind === "user" && (me.superuser || me.role === "admin");
  const isEditor = (me) => isAdmin(me) || (me.kind === "user" && me.role === "editor");

  function register(name, spec) {
    sections.push({ name, ...spec });
  }

  const errorBox = () => document.getElementById("settings-error");

  // Show an API refusal (problem details' title and detail, FS.send) where the user looks.
  function fail(err) {
    const box = errorBox();
    box.textContent = err && err.message ? err.message : String(err);
    box.scrollIntoView({ block: "nearest" });
  }

  function clear() {
    errorBox().textContent = "";
  }

  // Run an action from a control: clear the last error, and show the next one.
  async function act(fn) {
    clear();
    try {
      return await fn();
    } catch (err) {
      fail(err);
      return undefined;
    }
  }

  function when(iso) {
    return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–";
  }

  // A form's submit runs `fn` through act(); the form is reset when it succeeds.
  function onSubmit(id, fn) {
    const form = document.getElementById(id);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(async () => {
        if ((await fn(form)) !== false) form.reset();
      });
    });
  }

  // Buttons in a table's rows: one listener per table, dispatched on data-act.
  function onRowAction(tableId, handlers) {
    document.getElementById(tableId).addEventListener("click", (event) => {
      const button = event.target.closest("button[data-act]");
      if (!button) return;
      const handler = handlers[button.dataset.act];
      if (handler) act(() => handler(button.closest("tr"), button));
    });
  }

  // A second click confirms: the button asks first, and forgets after 5 s.
  function confirmed(button, question) {
    if (button.dataset.armed === "1") return true;
    const label = button.textContent;
    button.dataset.armed = "1";
    button.textContent = question;
    button.classList.add("danger");
    setTimeout(() => {
      button.dataset.armed = "";
      button.textContent = label;
      button.classList.remove("danger");
    }, 5000);
    return false;
  }

  function note(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  async function start() {
    const current = location.pathname.split("/")[2] || "account";
    FS.header("settings");
    let me;
    try {
      me = await FS.me();
    } catch (err) {
      fail(err);
      return;
    }
    const visible = sections.filter((s) => s.allowed(me))
      .sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
    document.getElementById("settings-nav").innerHTML = visible
      .map((s) => `<a href="/settings/${s.name}" data-section="${s.name}"${s.name === current ? ' aria-current="page"' : ""}>${FS.esc(s.label)}</a>`)
      .join("");
    const section = sections.find((s) => s.name === current);
    if (!section || !section.allowed(me)) {
      fail(new Error(`Your role (${me.role || me.scope}) may not use these settings.`));
      return;
    }
    document.title = `${section.label} · Settings · fleetscope`;
    document.getElementById("sec-" + section.name).hidden = false;
    await act(() => section.load(me));
    document.body.dataset.loaded = section.name;
  }

  document.addEventListener("DOMContentLoaded", start);
  return { register, isAdmin, isEditor, act, fail, clear, when, onSubmit, onRowAction, confirmed, note };
})();
