// The Healer page's few scripts: live refresh, and state-changing requests with the CSRF header.
// No framework, no CDN: everything is served by the plugin.
(function () {
  "use strict";
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";

  function flash(text, bad) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;  // text, never HTML: messages come from the server and from error texts
    box.className = bad ? "bad" : "ok";
  }

  async function send(method, url, body) {
    const headers = { "Content-Type": "application/json" };
    headers[meta("healer-csrf-header")] = meta("healer-csrf");
    const response = await fetch(url, { method, headers, credentials: "same-origin",
                                        body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail))
                                         : response.statusText;
      throw new Error(`${response.status}: ${detail}`);
    }
    return data;
  }
  window.healerSend = send;

  // An in-page confirmation: Airflow shows this page in a sandboxed frame without allow-modals, where
  // window.confirm() is silently ignored; a <dialog> is not.
  function confirmInPage(question) {
    return new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.className = "confirm";
      const text = document.createElement("p");
      text.textContent = question;
      const yes = document.createElement("button");
      yes.textContent = "Confirm";
      yes.className = "primary";
      const no = document.createElement("button");
      no.textContent = "Cancel";
      dialog.append(text, yes, " ", no);
      const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
      yes.addEventListener("click", () => close(true));
      no.addEventListener("click", () => close(false));
      dialog.addEventListener("cancel", () => close(false));
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  // <form data-action="/healer/api/..." data-method="POST" data-confirm="...">: fields become a JSON body.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.dataset.action) return;
    event.preventDefault();
    if (form.dataset.confirm && !(await confirmInPage(form.dataset.confirm))) return;
    const body = {};
    for (const [key, value] of new FormData(form).entries()) {
      const input = form.elements[key];
      body[key] = input && input.type === "checkbox" ? input.checked : value;
    }
    for (const box of form.querySelectorAll("input[type=checkbox]")) body[box.name] = box.checked;
    try {
      const data = await send(form.dataset.method || "POST", form.dataset.action, body);
      flash((data && data.message) || "Done.");
      if (form.dataset.reload !== "false") setTimeout(() => window.location.reload(), 800);
    } catch (error) {
      flash(error.message, true);
    }
  });

  // <section data-live="/healer/fragment/..." data-every="10">: replaced from the server without a reload.
  for (const section of document.querySelectorAll("[data-live]")) {
    const every = Math.max(Number(section.dataset.every || 10), 3) * 1000;
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const response = await fetch(section.dataset.live, { credentials: "same-origin" });
        if (response.ok) section.innerHTML = await response.text();  // server-rendered and escaped
      } catch (e) { /* the next tick tries again */ }
    }, every);
  }
})();
