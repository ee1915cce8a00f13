"use strict";
// The privacy center's form: it sends the request and shows the receipt,
// and nothing else about the subject or their data.
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
    p.textContent = `Your request ${data.id} was received. We will answer by ${due}. We may first ask you to confirm that it is yours.`;
    receipt.appendChild(p);
    receipt.classList.remove("hidden");
    document.getElementById("form-section").classList.add("hidden");
  } catch (e) {
    err.textContent = "The request could not be sent: " + e;
  }
});
