"use strict";
// Settings sections over the account routes (docs/accounts.md): one's own account and
// password, users, API keys, tenants (the superuser) and the audit log.
(() => {
  const S = SETTINGS;
  const esc = FS.esc;

  // ---- Your account: everyone ----
  S.register("account", {
    label: "Your account",
    allowed: () => true,
    async load(me) {
      const role = me.role || `${me.scope} key`;
      document.getElementById("account-who").innerHTML =
        `<dt>Name</dt><dd>${esc(me.name)}</dd><dt>Role</dt><dd>${esc(role)}${me.superuser ? " (superuser)" : ""}</dd>` +
        `<dt>Tenant</dt><dd>${esc(me.tenant_name)}</dd>`;
      S.onSubmit("password-form", async () => {
        S.note("password-message", "");
        const next = document.getElementById("pw-new").value;
        if (next !== document.getElementById("pw-again").value) {
          throw new Error("The new passwords differ.");
        }
        await FS.send("POST", "/api/v1/me/password", {
          current_password: document.getElementById("pw-current").value,
          new_password: next,
        });
        S.note("password-message", "Password changed.");
      });
    },
  });

  // ---- Users: admins ----
  let myId = null;

  function userRow(u) {
    const self = u.id === myId;
    const roles = ["viewer", "editor", "admin"]
      .map((r) => `<option${r === u.role ? " selected" : ""}>${r}</option>`).join("");
    const role = self
      ? esc(u.role)
      : `<select data-field="role" aria-label="Role of ${esc(u.username)}">${roles}</select>`;
    const actions = self
      ? '<a href="/settings/account" class="small">you: change it in Your account</a>'
      : `<button type="button" data-act="toggle">${u.disabled ? "Enable" : "Disable"}</button>
         <button type="button" data-act="reset">Reset password</button>
         <span class="reset" hidden><input type="password" minlength="8" placeholder="new password" aria-label="New password for ${esc(u.username)}">
         <button type="button" data-act="set-password">Set</button></span>`;
    return `<tr data-id="${u.id}" data-username="${esc(u.username)}" data-disabled="${u.disabled}">
      <td>${esc(u.username)}${u.superuser ? ' <span class="tag">superuser</span>' : ""}</td>
      <td>${role}</td><td>${u.disabled ? '<span class="tag off">disabled</span>' : "enabled"}</td>
      <td>${S.when(u.created)}</td><td>${S.when(u.password_changed)}</td><td><div class="row-actions">${actions}</div></td></tr>`;
  }

  async function loadUsers() {
    const users = await FS.read("/api/v1/users");
    document.querySelector("#users tbody").innerHTML = users.map(userRow).join("");
  }

  S.register("users", {
    label: "Users",
    allowed: S.isAdmin,
    async load(me) {
      myId = me.user_id;
      S.onSubmit("user-form", async () => {
        const username = document.getElementById("user-name").value;
        await FS.send("POST", "/api/v1/users", {
          username,
          password: document.getElementById("user-password").value,
          role: document.getElementById("user-role").value,
        });
        S.note("users-message", `User ${username} created.`);
        await loadUsers();
      });
      document.getElementById("users").addEventListener("change", (event) => {
        const select = event.target.closest("select[data-field=role]");
        if (!select) return;
        const row = select.closest("tr");
        S.act(async () => {
          try {
            await FS.send("PATCH", `/api/v1/users/${row.dataset.id}`, { role: select.value });
            S.note("users-message", `${row.dataset.username} is now ${select.value}.`);
          } finally {
            await loadUsers();
          }
        });
      });
      S.onRowAction("users", {
        async toggle(row) {
          const disabled = row.dataset.disabled !== "true";
          await FS.send("PATCH", `/api/v1/users/${row.dataset.id}`, { disabled });
          S.note("users-message", `${row.dataset.username} ${disabled ? "disabled" : "enabled"}.`);
          await loadUsers();
        },
        reset(row) {
          row.querySelector(".reset").hidden = false;
          row.querySelector(".reset input").focus();
        },
        async "set-password"(row) {
          const password = row.querySelector(".reset input").value;
          await FS.send("POST", `/api/v1/users/${row.dataset.id}/password`, { password });
          S.note("users-message", `Password of ${row.dataset.username} set; their sessions ended.`);
          await loadUsers();
        },
      });
      await loadUsers();
    },
  });

  // ---- API keys: admins ----
  function keyRow(k) {
    const status = k.revoked_at
      ? `<span class="tag off">revoked ${S.when(k.revoked_at)}</span>`
      : (k.expires_at && Date.parse(k.expires_at) <= Date.now() ? '<span class="tag off">expired</span>' : "active");
    const revoke = k.revoked_at ? "" : '<button type="button" data-act="revoke">Revoke</button>';
    return `<tr data-id="${k.id}" data-name="${esc(k.name)}"><td>${esc(k.name)}</td><td><code>${esc(k.prefix)}…</code></td>
      <td>${esc(k.scope)}</td><td>${k.machine_id ? esc(k.machine_id) : '<span class="muted">any</span>'}</td>
      <td>${esc(k.created_by || "–")}</td><td>${S.when(k.created)}</td><td>${S.when(k.last_used)}</td>
      <td>${k.expires_at ? S.when(k.expires_at) : '<span class="muted">never</span>'}</td><td>${status}</td><td>${revoke}</td></tr>`;
  }

  async function loadKeys() {
    const keys = await FS.read("/api/v1/keys");
    document.querySelector("#keys tbody").innerHTML = keys.length
      ? keys.map(keyRow).join("") : '<tr><td colspan="10" class="muted">No API keys.</td></tr>';
  }

  // The clipboard API needs a secure context (HTTPS or localhost); elsewhere the key is selected
  // for the user to copy with Ctrl+C.
  async function copyKey() {
    const code = document.getElementById("new-key-value");
    try {
      await navigator.clipboard.writeText(code.textContent);
      S.note("new-key-copied", "Copied to the clipboard.");
      return;
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      S.note("new-key-copied", "Selected: press Ctrl+C (⌘C) to copy it.");
    }
  }

  S.register("keys", {
    label: "API keys",
    allowed: S.isAdmin,
    async load() {
      const scope = document.getElementById("key-scope");
      const machine = document.getElementById("key-machine");
      scope.addEventListener("change", () => { machine.disabled = scope.value !== "ingest"; });
      S.onSubmit("key-form", async () => {
        const body = { name: document.getElementById("key-name").value, scope: scope.value };
        if (scope.value === "ingest" && machine.value.trim()) body.machine_id = machine.value.trim();
        const expires = document.getElementById("key-expires").value;
        if (expires) body.expires_at = new Date(expires).toISOString();
        const made = await FS.send("POST", "/api/v1/keys", body);
        document.getElementById("new-key-name").textContent = `“${made.name}” (${made.scope})`;
        document.getElementById("new-key-value").textContent = made.key;
        S.note("new-key-copied", "");
        document.getElementById("new-key").hidden = false;
        machine.disabled = false;
        await loadKeys();
      });
      document.getElementById("new-key-copy").addEventListener("click", copyKey);
      document.getElementById("new-key-done").addEventListener("click", () => {
        document.getElementById("new-key-value").textContent = "";
        document.getElementById("new-key").hidden = true;
      });
      S.onRowAction("keys", {
        async revoke(row, button) {
          if (!S.confirmed(button, "Revoke: sure?")) return;
          await FS.send("DELETE", `/api/v1/keys/${row.dataset.id}`);
          await loadKeys();
        },
      });
      await loadKeys();
    },
  });

  // ---- Tenants: the superuser ----
  let myTenant = null;

  function tenantRow(t) {
    const own = t.id === myTenant;
    const toggle = own ? '<span class="muted small">yours</span>'
      : `<button type="button" data-act="toggle">${t.active ? "Deactivate" : "Activate"}</button>`;
    return `<tr data-id="${t.id}" data-active="${t.active}"><td><input class="rename" value="${esc(t.name)}" aria-label="Name of tenant ${t.id}" maxlength="128">
      <button type="button" data-act="rename">Rename</button></td>
      <td>${t.active ? "active" : '<span class="tag off">deactivated</span>'}</td><td>${S.when(t.created)}</td><td>${toggle}</td></tr>`;
  }

  async function loadTenants() {
    const tenants = await FS.read("/api/v1/tenants");
    document.querySelector("#tenants tbody").innerHTML = tenants.map(tenantRow).join("");
    document.getElementById("fa-tenant").innerHTML = tenants
      .filter((t) => t.id !== myTenant)
      .map((t) => `<option value="${t.id}">${esc(t.name)}</option>`).join("");
  }

  S.register("tenants", {
    label: "Tenants",
    allowed: (me) => me.kind === "user" && me.superuser,
    async load(me) {
      myTenant = me.tenant_id;
      S.onSubmit("tenant-form", async () => {
        const made = await FS.send("POST", "/api/v1/tenants", { name: document.getElementById("tenant-name").value });
        S.note("tenants-message", `Tenant ${made.name} created: give it a first admin below.`);
        await loadTenants();
        document.getElementById("fa-tenant").value = String(made.id);
      });
      S.onSubmit("first-admin-form", async () => {
        const select = document.getElementById("fa-tenant");
        const username = document.getElementById("fa-name").value;
        await FS.send("POST", "/api/v1/users", {
          username, role: "admin", tenant_id: Number(select.value),
          password: document.getElementById("fa-password").value,
        });
        S.note("tenants-message", `${username} is the admin of ${select.selectedOptions[0].textContent}.`);
      });
      S.onRowAction("tenants", {
        async rename(row) {
          const name = row.querySelector("input.rename").value;
          await FS.send("PATCH", `/api/v1/tenants/${row.dataset.id}`, { name });
          S.note("tenants-message", `Renamed to ${name}.`);
          await loadTenants();
        },
        async toggle(row, button) {
          const active = row.dataset.active !== "true";
          if (!active && !S.confirmed(button, "Deactivate: sure?")) return;
          await FS.send("PATCH", `/api/v1/tenants/${row.dataset.id}`, { active });
          await loadTenants();
        },
      });
      await loadTenants();
    },
  });

  // ---- Audit log: admins, newest first, paged with next_before_id ----
  let before = null;

  function auditRow(e) {
    const detail = Object.entries(e.detail || {})
      .map(([k, v]) => `${esc(k)}=${esc(typeof v === "string" ? v : JSON.stringify(v))}`).join(", ");
    return `<tr><td>${S.when(e.at)}</td><td>${esc(e.actor || "–")}</td><td><code>${esc(e.action)}</code></td>
      <td>${esc(e.object || "")}</td><td class="wrap">${detail}</td><td>${esc(e.address || "")}</td></tr>`;
  }

  async function loadAudit() {
    const query = before == null ? "" : `&before_id=${before}`;
    const page = await FS.read(`/api/v1/audit?limit=50${query}`);
    const body = document.querySelector("#audit tbody");
    body.insertAdjacentHTML("beforeend", page.entries.map(auditRow).join(""));
    before = page.next_before_id;
    document.getElementById("audit-more").hidden = before == null;
    document.getElementById("audit-count").textContent = `${body.rows.length} entries shown`;
  }

  S.register("audit", {
    label: "Audit log",
    allowed: S.isAdmin,
    async load() {
      document.getElementById("audit-more").addEventListener("click", () => S.act(loadAudit));
      await loadAudit();
    },
  });
})();
