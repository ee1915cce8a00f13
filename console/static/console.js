"use strict";
// The staff console: everything goes through the API with the signed-in
// token, so each person sees and does only what their role allows.
const $ = (id) => document.getElementById(id);
let me = null;
let current = null;

async function api(method, path, body) {
  const resp = await fetch(path, {
    method,
    headers: { "Authorization": "Bearer " + sessionStorage.getItem("dsr-token"), "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

const day = (t) => new Date(t).toISOString().slice(0, 10);

async function signIn(token) {
  sessionStorage.setItem("dsr-token", token);
  try {
    me = await api("GET", "/api/v1/me");
  } catch (e) {
    sessionStorage.removeItem("dsr-token");
    $("login-error").textContent = "Not signed in: " + e.message;
    return;
  }
  $("login").classList.add("hidden");
  $("app").classList.remove("hidden");
  $("whoami").textContent = `${me.name} (${me.role}${me.departments ? ": " + me.departments.join(", ") : ""})`;
  $("new-request").classList.toggle("hidden", !["requester", "admin"].includes(me.role));
  await refresh();
  if (["requester", "admin"].includes(me.role)) await refreshMail();
}

async function refresh() {
  $("list-error").textContent = "";
  const q = new URLSearchParams();
  if ($("filter-status").value) q.set("status", $("filter-status").value);
  if ($("filter-overdue").checked) q.set("overdue", "true");
  if (me.role === "approver") q.set("department", me.departments[0]);
  let list;
  try {
    list = await api("GET", "/api/v1/requests?" + q);
  } catch (e) {
    $("list-error").textContent = e.message;
    return;
  }
  const body = $("requests");
  body.textContent = "";
  for (const r of list) {
    const row = document.createElement("tr");
    row.className = "row";
    row.dataset.id = r.id;
    cell(row, r.id);
    cell(row, r.type);
    cell(row, r.regulation);
    cell(row, r.status);
    cell(row, day(r.due_at));
    const closed = ["completed", "cancelled", "denied"].includes(r.status);
    cell(row, closed ? "-" : (r.days_left < 0 ? `overdue by ${-r.days_left}` : String(r.days_left)), !closed && r.days_left < 0 ? "overdue" : "");
    cell(row, (r.pending_departments || []).join(", "));
    row.addEventListener("click", () => show(r.id));
    body.appendChild(row);
  }
}

async function show(id) {
  $("detail-message").textContent = "";
  let v;
  try {
    v = await api("GET", "/api/v1/requests/" + encodeURIComponent(id));
  } catch (e) {
    $("detail-message").textContent = e.message;
    return;
  }
  current = v;
  $("detail").classList.remove("hidden");
  $("detail-title").textContent = `Request ${v.id}`;
  const closed = ["completed", "cancelled", "denied"].includes(v.status);
  $("detail-summary").textContent = `${v.type} under ${v.regulation}: ${v.status}. Due ${day(v.due_at)}` +
    (closed ? "." : ` (${v.days_left < 0 ? "overdue by " + -v.days_left : v.days_left} days${v.days_left < 0 ? "" : " left"}).`) +
    (v.waiting_for ? ` Waiting for ${v.waiting_for}.` : "");
  const systems = $("detail-systems");
  systems.textContent = "";
  for (const s of v.systems || []) {
    const row = document.createElement("tr");
    cell(row, s.system);
    cell(row, s.department);
    cell(row, String(s.found));
    cell(row, s.exempt ? "kept: " + s.basis : (s.done || "") + (s.verified ? " (verified)" : ""));
    systems.appendChild(row);
  }
  // A step that fails and waits to run again says why, not only "fulfilling".
  const retrying = (v.retrying || []).map((r) =>
    `${r.activity}: attempt ${r.attempt} of ${r.max_attempts || "no fixed limit"}; last error: ${r.last_error}`);
  $("detail-retrying").textContent = retrying.length ? "Retrying: " + retrying.join(" · ") : "";
  $("detail-retrying").classList.toggle("hidden", !retrying.length);
  const links = $("detail-links");
  links.textContent = "";
  let pending = false;
  for (const p of v.proposed_identities || []) {
    const row = document.createElement("tr");
    const box = document.createElement("td");
    if (!p.decision) {
      pending = true;
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = String(p.n);
      input.className = "link-choice";
      input.setAttribute("aria-label", `identity ${p.n} is the subject's`);
      box.appendChild(input);
    }
    row.appendChild(box);
    cell(row, String(p.n));
    cell(row, p.kind);
    cell(row, p.masked);
    cell(row, `${p.system} ${p.location}`);
    cell(row, p.decision ? `${p.decision} by ${p.actor}` : "waiting for confirmation");
    links.appendChild(row);
  }
  $("links").classList.toggle("hidden", !(v.proposed_identities || []).length);
  $("links-act").classList.toggle("hidden", !pending || closed || !["requester", "admin"].includes(me.role));
  const tl = $("detail-timeline");
  tl.textContent = "";
  for (const c of v.timeline || []) {
    const row = document.createElement("tr");
    cell(row, new Date(c.at).toISOString().replace("T", " ").slice(0, 19));
    cell(row, c.status);
    cell(row, c.actor);
    cell(row, c.note);
    tl.appendChild(row);
  }
  $("steer").classList.toggle("hidden", closed || !["requester", "admin"].includes(me.role));
  $("package").classList.toggle("hidden", !v.package || !["requester", "admin"].includes(me.role));
  const mine = (v.pending_departments || []).find((d) => (me.departments || []).includes(d));
  $("decide").classList.toggle("hidden", !mine || me.role !== "approver");
  $("decide-department").textContent = mine || "";
  $("audit").classList.toggle("hidden", me.role === "approver");
  $("evidence-timeline").textContent = "";
}

async function act(path, body, done) {
  let message = done;
  try {
    await api("POST", `/api/v1/requests/${encodeURIComponent(current.id)}/${path}`, body);
  } catch (e) {
    message = "Refused: " + e.message;
  }
  await show(current.id);
  await refresh();
  $("detail-message").textContent = message;
}

// refreshMail shows dev mode's mail sink; outside dev mode the API
// answers 404 and the section stays hidden.
async function refreshMail() {
  let list;
  try {
    list = await api("GET", "/api/v1/dev/mail");
  } catch (e) {
    return;
  }
  $("mail").classList.remove("hidden");
  const body = $("mail-list");
  body.textContent = "";
  for (const m of list) {
    const row = document.createElement("tr");
    row.className = "row";
    cell(row, new Date(m.at).toLocaleString());
    cell(row, (m.to || []).join(", "));
    cell(row, m.subject);
    row.addEventListener("click", () => {
      $("mail-text").textContent = `From: ${m.from}\nTo: ${(m.to || []).join(", ")}\nSubject: ${m.subject}\n\n${m.text}`;
      $("mail-text").classList.remove("hidden");
    });
    body.appendChild(row);
  }
}

$("mail-refresh").addEventListener("click", refreshMail);
$("login-button").addEventListener("click", () => signIn($("token").value.trim()));
$("refresh").addEventListener("click", refresh);
$("filter-status").addEventListener("change", refresh);
$("filter-overdue").addEventListener("change", refresh);
$("verify").addEventListener("click", () => act("verify", { method: $("action-text").value }, "Identity verified."));
$("cancel").addEventListener("click", () => act("cancel", { reason: $("action-text").value }, "Request cancelled."));
$("deny").addEventListener("click", () => act("deny", { reason: $("action-text").value }, "Request denied."));
$("retry").addEventListener("click", () => act("retry", {}, "Retrying."));
$("links-confirm").addEventListener("click", () => {
  const confirm = [...document.querySelectorAll(".link-choice:checked")].map((c) => Number(c.value));
  act("identities", { confirm, note: $("links-note").value }, "Linked identities answered.");
});
$("extend").addEventListener("click", () => {
  const [unit, n] = $("extend-by").value.split(":");
  act("extend", { [unit]: Number(n), reason: $("action-text").value }, "Deadline extended; the subject is told.");
});
$("download").addEventListener("click", async () => {
  // The package is personal data: fetched with the token, saved by the browser.
  const resp = await fetch(`/api/v1/requests/${encodeURIComponent(current.id)}/package`, {
    headers: { "Authorization": "Bearer " + sessionStorage.getItem("dsr-token") },
  });
  if (!resp.ok) {
    $("detail-message").textContent = "Refused: " + ((await resp.json().catch(() => ({}))).error || resp.statusText);
    return;
  }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await resp.blob());
  a.download = current.id + "-package.zip";
  a.click();
  $("detail-message").textContent = "Package downloaded.";
});
$("approve").addEventListener("click", () => act("decisions", { department: $("decide-department").textContent, decision: "approve" }, "Approved."));
$("object").addEventListener("click", () => act("decisions", { department: $("decide-department").textContent, decision: "object", legal_basis: $("basis").value }, "Objection recorded."));
$("evidence").addEventListener("click", async () => {
  let ev;
  try {
    ev = await api("GET", `/api/v1/requests/${encodeURIComponent(current.id)}/evidence`);
  } catch (e) {
    $("detail-message").textContent = "The audit record could not be read: " + e.message;
    return;
  }
  const body = $("evidence-timeline");
  body.textContent = "";
  for (const e of ev.timeline) {
    const row = document.createElement("tr");
    cell(row, new Date(e.at).toISOString().replace("T", " ").slice(0, 19));
    cell(row, e.what);
    cell(row, e.actor);
    cell(row, e.detail);
    body.appendChild(row);
  }
  const chain = document.createElement("tr");
  cell(chain, "audit log");
  cell(chain, ev.audit_chain.problems.length ? `BROKEN: ${ev.audit_chain.problems.length} problems` : `intact (${ev.audit_chain.entries} entries)`);
  body.appendChild(chain);
});
// A new request shows the fields its kind carries.
const scoped = ["restriction", "objection", "opt_out", "limit_sensitive"];
function showNewFields() {
  $("new-correction").classList.toggle("hidden", $("new-type").value !== "rectification");
  $("new-scope").classList.toggle("hidden", !scoped.includes($("new-type").value));
}
$("new-type").addEventListener("change", showNewFields);
showNewFields();
$("new-start").addEventListener("click", async () => {
  const body = {
    type: $("new-type").value, regulation: $("new-regulation").value, identity_verified: $("new-verified").checked,
    identities: [{ kind: "email", value: $("new-email").value.trim() }],
  };
  if (body.type === "rectification") {
    body.corrections = [{ field: $("new-field").value.trim(), value: $("new-value").value.trim() }];
  }
  if (scoped.includes(body.type)) {
    const purposes = $("new-purposes").value.split(",").map((p) => p.trim()).filter((p) => p);
    body.scope = { purposes, grounds: $("new-grounds").value.trim(), direct_marketing: $("new-marketing").checked,
      lift: $("new-lift").checked, channel: body.type === "restriction" ? "" : $("new-channel").value.trim() };
  }
  try {
    const r = await api("POST", "/api/v1/requests", body);
    $("new-result").textContent = `Started ${r.id}.`;
    await refresh();
  } catch (e) {
    $("new-result").textContent = "Refused: " + e.message;
  }
});
if (sessionStorage.getItem("dsr-token")) signIn(sessionStorage.getItem("dsr-token"));
