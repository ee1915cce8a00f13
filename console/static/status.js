"use strict";
// The subject portal: after a code e-mailed to the request's address, the
// subject sees where the request stands and downloads the answer. The
// session lives in this page (and, right after the privacy center's own
// code, in this tab's sessionStorage); nothing is kept beyond the tab.
let requestID = "";
let session = "";

const $ = (id) => document.getElementById(id);
const day = (s) => new Date(s).toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric" });

function period(p) {
  const parts = [];
  if (p && p.months) parts.push(`${p.months} month${p.months === 1 ? "" : "s"}`);
  if (p && p.days) parts.push(`${p.days} day${p.days === 1 ? "" : "s"}`);
  return parts.join(" and ");
}

function say(id, text, ok) {
  $(id).textContent = text;
  $(id).className = ok ? "ok" : "error";
}

async function post(path, body) {
  const resp = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  return { ok: resp.ok, data: await resp.json().catch(() => ({})) };
}

function base() {
  return `/api/v1/public/requests/${encodeURIComponent(requestID)}`;
}

async function show() {
  const resp = await fetch(base() + "/status", { headers: { Authorization: "Bearer " + session } });
  const v = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    session = "";
    $("status-section").classList.add("hidden");
    $("open-section").classList.remove("hidden");
    say("open-result", v.error || "Your request could not be shown.", false);
    return;
  }
  $("status-id").textContent = v.id;
  $("status-type").textContent = v.type;
  $("status-stage").textContent = v.stage;
  $("status-received").textContent = day(v.received_at);
  $("status-due").textContent = day(v.due_at);
  const ext = $("status-extensions");
  ext.textContent = "";
  for (const e of v.extensions || []) {
    const li = document.createElement("li");
    li.textContent = `Extended by ${period(e.by)}: ${e.reason}`;
    ext.appendChild(li);
  }
  const p = v.package;
  $("package").classList.toggle("hidden", !p);
  if (p) {
    $("package-info").textContent = p.available
      ? `You can download it ${p.downloads_left} more time${p.downloads_left === 1 ? "" : "s"}, until ${day(p.expires_at)}. Open report.html in the package to read it.`
      : p.why;
    $("download").disabled = !p.available;
  }
  $("open-section").classList.add("hidden");
  $("status-section").classList.remove("hidden");
}

$("send-code").addEventListener("click", async () => {
  requestID = $("request").value.trim();
  const { ok, data } = await post(base() + "/code");
  say("open-result", ok ? "A code is on its way to the address the request was made with." : (data.error || "No code could be sent."), ok);
});

$("open").addEventListener("click", async () => {
  requestID = $("request").value.trim();
  const { ok, data } = await post(base() + "/verify", { code: $("code").value.trim() });
  if (!ok) {
    say("open-result", data.error || "The code could not be checked.", false);
    return;
  }
  session = data.session;
  await show();
});

$("download").addEventListener("click", async () => {
  const resp = await fetch(base() + "/package", { headers: { Authorization: "Bearer " + session } });
  if (!resp.ok) {
    const e = await resp.json().catch(() => ({}));
    say("download-result", e.error || "The download failed.", false);
    return;
  }
  const blob = await resp.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${requestID}-package.zip`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  say("download-result", `Downloaded (${blob.size} bytes).`, true);
  await show();
});

const fromLink = new URLSearchParams(location.search).get("request");
if (fromLink) {
  $("request").value = fromLink;
  requestID = fromLink;
  const kept = sessionStorage.getItem("dsr-portal:" + fromLink);
  if (kept) {
    session = kept;
    show();
  }
}
