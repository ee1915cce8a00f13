"use strict";
// The privacy center's form: it sends the request, shows the receipt and
// takes the code e-mailed to the address given, and shows nothing else
// about the subject or their data.
let requestID = null;

async function post(path, body) {
  const resp = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  const data = await resp.json().catch(() => ({}));
  return { ok: resp.ok, data };
}

function say(text, ok) {
  const r = document.getElementById("verify-result");
  r.textContent = text;
  r.className = ok ? "ok" : "error";
}

document.getElementById("verify").addEventListener("click", async () => {
  const { ok, data } = await post(`/api/v1/public/requests/${encodeURIComponent(requestID)}/verify`, { code: document.getElementById("code").value.trim() });
  if (ok) {
    say("Thank you: your address is confirmed, and we are working on your request. We will e-mail you the answer.", true);
    document.getElementById("verify").disabled = true;
    document.getElementById("resend").disabled = true;
    // The code just entered opens the request's page in this tab, with
    // no second code.
    sessionStorage.setItem("dsr-portal:" + requestID, data.session);
    const follow = document.getElementById("follow");
    follow.href = "/privacy/status?request=" + encodeURIComponent(requestID);
    follow.classList.remove("hidden");
  } else {
    say(data.error || "The code could not be checked.", false);
  }
});

document.getElementById("resend").addEventListener("click", async () => {
  const { ok, data } = await post(`/api/v1/public/requests/${encodeURIComponent(requestID)}/code`);
  say(ok ? "A new code is on its way." : (data.error || "No new code could be sent."), ok);
});
// Each kind of request shows the fields it needs.
const typeSelect = document.getElementById("type");
function showFields() {
  document.getElementById("correction").classList.toggle("hidden", typeSelect.value !== "rectification");
  document.getElementById("grounds-row").classList.toggle("hidden", typeSelect.value !== "restriction");
}
typeSelect.addEventListener("change", showFields);
showFields();

document.getElementById("dsr").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = document.getElementById("form-error");
  err.textContent = "";
  const body = {
    type: document.getElementById("type").value,
    regulation: document.getElementById("regulation").value,
    email: document.getElementById("email").value.trim(),
    customer_id: document.getElementById("customer_id").value.trim(),
    declaration: document.getElementById("declaration").checked,
  };
  switch (body.type) {
  case "rectification":
    body.corrections = [{ field: document.getElementById("field").value, value: document.getElementById("value").value.trim() }];
    break;
  case "restriction":
    body.purposes = ["all"];
    body.grounds = document.getElementById("grounds").value.trim();
    break;
  case "objection":
    body.direct_marketing = true;
    break;
  }
  try {
    const resp = await fetch("/api/v1/public/requests", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await resp.json();
    if (!resp.ok) {
      err.textContent = data.error || "The request could not be sent.";
      return;
    }
    const due = new Date(data.due_at).toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric" });
    const receipt = document.getElementById("receipt");
    receipt.textContent = "";
    const p = document.createElement("p");
    p.className = "ok";
    p.textContent = `Your request ${data.id} was received. We will answer by ${due}. ` +
      (data.no_verification ? "It needs no confirmation." :
        data.code_sent ? "First, please confirm that the address is yours." : "We may first ask you to confirm that it is yours.");
    receipt.appendChild(p);
    if (data.opt_out) {
      const gpc = document.createElement("p");
      gpc.textContent = `Your browser asks sites not to sell or share your data (Global Privacy Control), so we also opted you out: request ${data.opt_out}.`;
      receipt.appendChild(gpc);
    }
    receipt.classList.remove("hidden");
    requestID = data.id;
    document.getElementById("verify-section").classList.toggle("hidden", !data.code_sent);
    document.getElementById("form-section").classList.add("hidden");
  } catch (e) {
    err.textContent = "The request could not be sent: " + e;
  }
});
