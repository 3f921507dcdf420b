"use strict";
// The collectors settings section (/api/v1/collectors): the registry of monitored machines,
// editable by editors and admins (viewers read it without the controls), and each collector's
// collection files with their ingest result and a download link.
(() => {
  const S = SETTINGS;
  const esc = FS.esc;
  const GIB = 2 ** 30;
  let editable = false;
  let editing = null; // the collector id the form edits, or null for a new one
  const byId = new Map();

  function compute(c) {
    const parts = [c.chip_maker, c.cpu_model].filter(Boolean).map(esc);
    if (c.cores != null) parts.push(`${c.cores} cores`);
    if (c.memory_bytes != null) parts.push(FS.bytes(c.memory_bytes));
    return parts.length ? parts.join(" · ") : '<span class="muted">–</span>';
  }

  function row(c) {
    const edit = editable ? '<button type="button" data-act="edit">Edit</button> ' : "";
    return `<tr data-id="${c.id}"><td><b>${esc(c.machine)}</b>${c.machine_id && c.machine_id !== c.machine ? `<div class="muted small" title="machine id">${esc(c.machine_id)}</div>` : ""}</td>
      <td>${esc(c.platform || "–")}</td><td class="wrap">${compute(c)}</td><td class="site">${esc(c.site || "–")}</td>
      <td class="owner">${esc(c.owner || "–")}</td><td>${S.when(c.created_at)}</td>
      <td><div class="row-actions">${edit}<button type="button" data-act="files">Files</button></div></td></tr>`;
  }

  async function load() {
    const list = await FS.read("/api/v1/collectors");
    byId.clear();
    list.forEach((c) => byId.set(c.id, c));
    document.querySelector("#collectors tbody").innerHTML = list.length
      ? list.map(row).join("")
      : '<tr><td colspan="7" class="muted">No collector yet: one appears when an agent first sends its inventory.</td></tr>';
  }

  const FIELDS = {
    machine: "co-machine", site: "co-site", owner: "co-owner", platform: "co-platform",
    chip_maker: "co-chip", cpu_model: "co-cpu",
  };

  function openForm(c) {
    editing = c ? c.id : null;
    const form = document.getElementById("collector-form");
    form.reset();
    document.getElementById("collector-form-title").textContent = c ? `Edit ${c.machine}` : "Add a collector";
    if (c) {
      for (const [field, id] of Object.entries(FIELDS)) document.getElementById(id).value = c[field] || "";
      document.getElementById("co-cores").value = c.cores ?? "";
      document.getElementById("co-memory").value = c.memory_bytes == null ? "" : +(c.memory_bytes / GIB).toFixed(2);
    }
    form.hidden = false;
    document.getElementById("co-machine").focus();
  }

  // The form's values as the API takes them: an emptied optional field is null (cleared),
  // machine and site are strings (site "" is no site).
  function values() {
    const body = {};
    for (const [field, id] of Object.entries(FIELDS)) {
      const text = document.getElementById(id).value.trim();
      body[field] = text || (field === "machine" || field === "site" ? text : null);
    }
    const cores = document.getElementById("co-cores").value;
    const memory = document.getElementById("co-memory").value;
    body.cores = cores === "" ? null : Number(cores);
    body.memory_bytes = memory === "" ? null : Math.round(Number(memory) * GIB);
    return body;
  }

  function fileRow(f) {
    const result = f.result === "ingested" || f.result === "accepted"
      ? esc(f.result) : `<span class="tag off">${esc(f.result)}</span>`;
    return `<tr><td>${S.when(f.uploaded_at)}</td><td>${esc(f.uploaded_by)}</td><td class="num">${FS.bytes(f.size_bytes)}</td>
      <td class="wrap">${result}${f.detail ? ` <span class="muted small">${esc(f.detail)}</span>` : ""}</td>
      <td><a href="${esc(f.download)}" download>download</a></td></tr>`;
  }

  async function showFiles(c) {
    const files = await FS.read(`/api/v1/collectors/${c.id}/files`);
    document.getElementById("files-title").textContent = `Collection files of ${c.machine}`;
    document.querySelector("#files tbody").innerHTML = files.length
      ? files.map(fileRow).join("") : '<tr><td colspan="5" class="muted">No file uploaded for this collector.</td></tr>';
    const card = document.getElementById("collector-files");
    card.hidden = false;
    card.scrollIntoView({ block: "nearest" });
  }

  S.register("collectors", {
    label: "Collectors",
    allowed: (me) => me.kind === "user",
    async load(me) {
      editable = S.isEditor(me);
      const form = document.getElementById("collector-form");
      if (editable) {
        document.getElementById("collector-add").addEventListener("click", () => openForm(null));
        document.getElementById("collector-cancel").addEventListener("click", () => { form.hidden = true; });
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          S.act(async () => {
            const body = values();
            const saved = editing == null
              ? await FS.send("POST", "/api/v1/collectors", body)
              : await FS.send("PATCH", `/api/v1/collectors/${editing}`, body);
            form.hidden = true;
            S.note("collectors-message", `${saved.machine} saved.`);
            await load();
          });
        });
      } else {
        document.getElementById("collector-tools").remove();
        form.remove();
      }
      S.onRowAction("collectors", {
        edit: (tr) => openForm(byId.get(Number(tr.dataset.id))),
        files: (tr) => showFiles(byId.get(Number(tr.dataset.id))),
      });
      await load();
    },
  });
})();
