// clawhost: small enhancements on top of server-rendered pages that work without it.
// Live progress (install, start), live gateway state and logs, inline form errors, and
// "Test key". No inline script anywhere: the CSP allows only this file.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, data };
}

// A sensitive action answered "confirm your password first": post the form itself instead,
// so the server's confirmation page asks for the password and sends the same fields on.
function needsStepUp(result) {
  const type = result.data && result.data.type;
  return result.status === 403 && typeof type === "string" && type.endsWith("reauthentication-required");
}

const STATE_LABELS = {
  stopped: "Stopped",
  installing: "Installing",
  starting: "Starting",
  running: "Running",
  stopping: "Stopping",
  backoff: "Restarting",
  needs_attention: "Needs attention",
};

const PHASES = {
  plugins: [5, "Installing channel plugins"],
  config_written: [10, "Configuration written"],
  validated: [25, "Configuration checked by OpenClaw"],
  spawned: [35, "Gateway process started"],
  waiting_for_readiness: [40, "Waiting for the gateway to be ready"],
  ready: [100, "Ready"],
};

function showProgress(container, progress) {
  if (!container) return;
  container.hidden = false;
  const bar = $("progress", container);
  const text = $("p", container);
  const phase = PHASES[progress.phase];
  if (phase && bar) {
    let value = phase[0];
    if (progress.phase === "waiting_for_readiness" && progress.timeout_ms > 0) {
      value = 40 + Math.min(55, (55 * progress.elapsed_ms) / progress.timeout_ms);
    }
    bar.max = 100;
    bar.value = value;
  }
  const seconds = (progress.elapsed_ms / 1000).toFixed(0);
  const label = phase ? phase[1] : progress.detail;
  if (text) text.textContent = `${label} (${seconds} s)`;
}

function setField(root, name, value) {
  const element = $(`[data-field="${name}"]`, root);
  if (element) element.textContent = value ?? "—";
  return element;
}

// Times come as UTC from the server; shown in the browser's own time, UTC in the tooltip.
function localTime(element) {
  const at = new Date(element.dateTime);
  if (Number.isNaN(at.getTime())) return;
  element.title = `${element.dateTime.slice(0, 10)} ${element.dateTime.slice(11, 16)} UTC`;
  element.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function localTimes(root = document) {
  for (const element of $$("time[datetime]", root)) localTime(element);
}

// Buttons say in `data-when` the states they work in (the server states the rule once);
// the others are disabled, and each card's hint says why.
function applyActions(state) {
  for (const element of $$("[data-when]")) {
    const enabled = element.dataset.when.split(" ").includes(state);
    if (element.tagName === "A") {
      if (enabled) element.removeAttribute("aria-disabled");
      else element.setAttribute("aria-disabled", "true");
    } else {
      element.disabled = !enabled;
    }
  }
  for (const hint of $$('[data-field="why-disabled"]')) {
    const card = hint.closest(".card") || document;
    const reasons = [];
    for (const element of $$("[data-when]", card)) {
      const off = element.disabled || element.getAttribute("aria-disabled") === "true";
      if (off && !reasons.includes(element.dataset.why)) reasons.push(element.dataset.why);
    }
    hint.textContent = reasons.join(" ");
  }
}

function renderState(root, status) {
  const badge = setField(root, "state", STATE_LABELS[status.state] || status.state);
  if (badge) badge.className = `badge state-${status.state}`;
  applyActions(status.state);
  setField(root, "provider", status.provider);
  setField(root, "model", status.model);
  const since = $('[data-field="started_at"]', root);
  if (since) {
    since.replaceChildren();
    if (status.started_at) {
      const time = document.createElement("time");
      time.dateTime = status.started_at;
      since.append(time);
      localTime(time);
    } else {
      since.textContent = "—";
    }
  }
  setField(root, "openclaw_version", status.openclaw_version);
  setField(root, "restarts", String(status.restarts ?? 0));
  setField(root, "memory", status.memory_rss_bytes ? `${Math.round(status.memory_rss_bytes / 1048576)} MiB` : null);
  const attention = $('[data-field="attention"]', root);
  if (attention) {
    attention.hidden = !status.attention;
    attention.textContent = status.attention ? status.attention.reason : "";
  }
  const log = $('[data-field="attention-log"]', root);
  if (log) {
    log.hidden = !status.attention;
    log.textContent = status.attention ? status.attention.log_tail.join("\n") : "";
  }
  const done = $('[data-field="done"]', root);
  if (done) done.hidden = status.state !== "running";
  const apply = $('[data-field="apply"]', root);
  if (apply && status.state !== "running") apply.hidden = true;
  if (status.state === "running" || status.state === "needs_attention" || status.state === "stopped") {
    const progress = $('[data-field="progress"]', root);
    if (progress && status.state !== "running") progress.hidden = true;
    if (progress && status.state === "running") {
      const bar = $("progress", progress);
      if (bar) bar.value = 100;
    }
  }
}

function followGateway(root) {
  const source = new EventSource("/api/gateway/events");
  let lastState = null;
  source.addEventListener("state", (event) => {
    const status = JSON.parse(event.data);
    renderState(root, status);
    if (status.state !== lastState) {
      lastState = status.state;
      channels();
    }
  });
  source.addEventListener("progress", (event) => {
    const progress = JSON.parse(event.data);
    if (progress.phase.startsWith("install")) {
      const container = $('[data-field="install-progress"]');
      if (!container) return;
      // A failure is the server's to show (kept until dismissed); so is the new version.
      if (progress.phase === "install_failed") {
        window.location.reload();
        return;
      }
      container.hidden = false;
      $("p", container).textContent = progress.detail;
      const bar = $("progress", container);
      if (typeof progress.percent === "number") {
        bar.max = 100;
        bar.value = progress.percent;
      }
      if (progress.phase === "installed") {
        bar.max = 1;
        bar.value = 1;
        window.setTimeout(() => window.location.reload(), 800);
      }
      return;
    }
    showProgress($('[data-field="progress"]', root), progress);
  });
  window.addEventListener("beforeunload", () => source.close());
}

function confirmFirst(form) {
  const question = form.dataset.confirm;
  return !question || window.confirm(question);
}

function enhanceGatewayForms() {
  for (const form of $$("form[data-action]")) {
    const action = form.dataset.action;
    if (!["start", "stop", "restart", "install"].includes(action)) continue;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!confirmFirst(form)) return;
      const path = action === "install" ? "/api/gateway/runtime/install" : `/api/gateway/${action}`;
      const result = await api("POST", path);
      if (needsStepUp(result)) {
        form.submit();
        return;
      }
      if (!result.ok) {
        const root = form.closest(".card") || document;
        const attention = $('[data-field="attention"]', root);
        const message = (result.data && result.data.detail) || `The request failed (${result.status}).`;
        if (attention) {
          attention.hidden = false;
          attention.textContent = message;
        } else {
          window.alert(message);
        }
      }
    });
  }
  // Delegated, so that forms drawn again later (the live Devices page) ask too.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches("form[data-confirm]:not([data-action])") && !confirmFirst(form)) {
      event.preventDefault();
    }
  });
}

function providerForm() {
  const form = $('form[data-action="settings"]');
  if (!form) return;
  const select = $("#provider", form);
  const keyBlock = $('[data-for="key"]', form);
  const urlBlock = $('[data-for="base-url"]', form);
  const model = $("#model", form);
  const sync = () => {
    const option = select.selectedOptions[0];
    keyBlock.hidden = option.dataset.needsKey !== "true";
    urlBlock.hidden = option.dataset.needsBaseUrl !== "true";
    model.placeholder = option.dataset.defaultModel || "Required: the model's id at this endpoint";
  };
  select.addEventListener("change", sync);
  sync();
  const clearErrors = () => {
    for (const element of $$("[data-error]", form)) element.textContent = "";
    for (const input of $$("input, select", form)) input.removeAttribute("aria-invalid");
  };
  const result = $('[data-field="test-result"]', form);
  const test = $("[data-test-key]", form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const body = { provider: select.value, model: model.value.trim() || undefined };
    const key = $("#api_key", form).value;
    if (key) body.api_key = key;
    if (!urlBlock.hidden && $("#base_url", form).value.trim()) body.base_url = $("#base_url", form).value.trim();
    const saved = await api("PUT", "/api/gateway/settings", body);
    if (saved.ok) {
      // The page as the server draws it after a save: "Saved.", "Restart to apply" while
      // the gateway runs, and the buttons a saved provider makes work (Test key, Start).
      const target = new URL("/setup?saved=1#step-provider", window.location.href);
      if (target.href === window.location.href) window.location.reload();
      else window.location.assign(target.href);
      return;
    }
    if (needsStepUp(saved)) {
      form.submit();
      return;
    }
    result.textContent = "";
    for (const error of (saved.data && saved.data.errors) || []) {
      const slot = $(`[data-error="${error.field}"]`, form);
      if (slot) slot.textContent = error.message;
      const input = $(`#${error.field}`, form);
      if (input) input.setAttribute("aria-invalid", "true");
    }
    if (!(saved.data && saved.data.errors)) result.textContent = (saved.data && saved.data.detail) || "Saving failed.";
  });
  test.hidden = false;
  test.addEventListener("click", async () => {
    result.textContent = "Testing…";
    const outcome = await api("POST", "/api/gateway/settings/test");
    result.textContent = (outcome.data && outcome.data.detail) || `The test failed (${outcome.status}).`;
  });
}

function logs() {
  const panel = $("[data-logs]");
  if (!panel) return;
  const filter = $("[data-log-filter]");
  const toggle = $("[data-log-toggle]");
  let paused = false;
  const applyFilter = () => {
    for (const line of $$("span", panel)) line.hidden = Boolean(filter.value) && line.dataset.stream !== filter.value;
  };
  filter.addEventListener("change", applyFilter);
  toggle.addEventListener("click", () => {
    paused = !paused;
    toggle.textContent = paused ? "Follow" : "Pause";
    toggle.setAttribute("aria-pressed", String(paused));
  });
  panel.scrollTop = panel.scrollHeight;
  const source = new EventSource("/api/gateway/logs/stream");
  source.addEventListener("log", (event) => {
    const line = JSON.parse(event.data);
    const span = document.createElement("span");
    span.dataset.stream = line.stream;
    span.textContent = `${line.text}\n`;
    span.hidden = Boolean(filter.value) && line.stream !== filter.value;
    panel.append(span);
    while (panel.childElementCount > 2000) panel.firstElementChild.remove();
    if (!paused) panel.scrollTop = panel.scrollHeight;
  });
  window.addEventListener("beforeunload", () => source.close());
}

async function channels() {
  const card = $("[data-channels]");
  if (!card) return;
  const list = $('[data-field="channels-list"]', card);
  const empty = $('[data-field="channels-empty"]', card);
  const whatsapp = $('[data-field="whatsapp"]', card);
  const link = await api("GET", "/api/channels/whatsapp");
  if (link.ok) {
    const phone = link.data.phone ? ` (${link.data.phone})` : "";
    whatsapp.textContent = link.data.linked ? `WhatsApp is linked${phone}.` : "WhatsApp is not linked.";
    if (link.data.problem) whatsapp.textContent += ` ${link.data.problem}`;
  }
  list.replaceChildren();
  // Channel health comes from the running gateway only; don't ask otherwise.
  const badge = $('[data-field="state"]');
  if (!badge || !badge.classList.contains("state-running")) {
    empty.hidden = false;
    return;
  }
  const health = await api("GET", "/api/channels");
  if (!health.ok) return;
  empty.hidden = health.data.channels.length > 0;
  for (const channel of health.data.channels) {
    const item = document.createElement("li");
    const state = channel.connected ? "connected" : channel.running ? "running" : channel.linked ? "linked, not running" : channel.configured ? "not linked" : "not configured";
    item.textContent = `${channel.id}: ${state}`;
    for (const issue of channel.issues) {
      const detail = document.createElement("p");
      detail.className = "hint";
      detail.textContent = issue.fix ? `${issue.message} ${issue.fix}` : issue.message;
      item.append(detail);
    }
    list.append(item);
  }
}

// The WhatsApp linking page: follow the flow's steps instead of reloading.
function followWhatsAppLink() {
  const card = $("[data-whatsapp-link]");
  if (!card) return;
  const status = $('[data-field="link-status"]', card);
  const figure = $('[data-field="qr"]', card);
  const failed = $('[data-field="link-failed"]', card);
  const form = $('[data-field="link-form"]', card);
  const source = new EventSource("/api/channels/whatsapp/link/events");
  // Only a running flow's steps are shown here; its outcome comes from the server (below).
  const show = (state, text) => {
    card.dataset.state = state;
    status.textContent = text;
    form.hidden = true;
    failed.hidden = true;
    figure.hidden = state !== "qr";
  };
  source.addEventListener("progress", (event) => show("progress", `${JSON.parse(event.data).detail}…`));
  source.addEventListener("qr", (event) => {
    $("img", figure).src = JSON.parse(event.data).data_url;
    show("qr", "Scan the QR code with WhatsApp. It refreshes by itself.");
  });
  // A flow that ends while the page watches it: the server renders the outcome and the
  // right next action (link another phone, try again).
  const ended = () => {
    const state = card.dataset.state;
    if (state === "progress" || state === "qr") {
      source.close();
      window.location.reload();
    }
  };
  source.addEventListener("linked", ended);
  source.addEventListener("failed", ended);
  window.addEventListener("beforeunload", () => source.close());
}

// A page for a passing state (the gateway starting): ask again every few seconds, and load
// the real page once the answer is no longer "unavailable".
function retryWhenAvailable() {
  const hint = $("[data-retry-every]");
  if (!hint) return;
  const every = Math.max(1, Number(hint.dataset.retryEvery) || 5) * 1000;
  const again = async () => {
    try {
      const response = await fetch(window.location.href, { headers: { accept: "text/html" }, credentials: "same-origin" });
      if (![502, 503, 504].includes(response.status)) {
        window.location.reload();
        return;
      }
    } catch {
      // Not reachable right now either: ask again.
    }
    window.setTimeout(again, every);
  };
  window.setTimeout(again, every);
}

// Passkeys (WebAuthn). The server's options are WebAuthn's JSON form (binary fields in
// base64url); browsers without PublicKeyCredential.parse*FromJSON get them converted here.
const fromBase64url = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
const toBase64url = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromBase64url(c.id) }));

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return { ...json, challenge: fromBase64url(json.challenge), user: { ...json.user, id: fromBase64url(json.user.id) }, excludeCredentials: withIds(json.excludeCredentials) };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

function credentialJson(credential) {
  if (credential.toJSON) return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) response.attestationObject = toBase64url(r.attestationObject);
  if (r.authenticatorData) response.authenticatorData = toBase64url(r.authenticatorData);
  if (r.signature) response.signature = toBase64url(r.signature);
  if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  return { id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type, response, clientExtensionResults: credential.getClientExtensionResults() };
}

function showError(root, message) {
  const field = $('[data-field="passkey-error"]', root);
  field.hidden = false;
  field.textContent = message;
}

const problemText = (result) => (result.data && result.data.detail) || `The request failed (${result.status}).`;

// One passkey answer for a sign-in ceremony: `finish(ceremony, credential)` takes it on.
async function withPasskey(root, finish) {
  const started = await api("POST", "/api/auth/passkeys/login/start");
  if (!started.ok) return showError(root, problemText(started));
  let credential;
  try {
    credential = await navigator.credentials.get({ publicKey: requestOptions(started.data.options.publicKey) });
  } catch {
    return showError(root, "No passkey was used.");
  }
  const finished = await finish({ ceremony: started.data.ceremony, credential: credentialJson(credential) });
  if (!finished.ok) showError(root, problemText(finished));
  return finished.ok;
}

function passkeys() {
  if (!window.PublicKeyCredential) return;
  const signIn = $("[data-passkey-sign-in]");
  if (signIn) {
    signIn.hidden = false;
    $("button", signIn).addEventListener("click", async () => {
      if (await withPasskey(signIn, (answer) => api("POST", "/api/auth/passkeys/login/finish", answer))) {
        window.location.assign(signIn.dataset.next || "/");
      }
    });
  }
  const stepUp = $("[data-passkey-step-up]");
  if (stepUp) {
    stepUp.hidden = false;
    $("button", stepUp).addEventListener("click", async () => {
      // The passkey's answer goes with the same fields, in place of the password.
      await withPasskey(stepUp, async (answer) => {
        const form = $("form[data-step-up]");
        const password = $("#reauth_password", form);
        if (password) password.remove();
        const field = document.createElement("input");
        Object.assign(field, { type: "hidden", name: "reauth_passkey", value: JSON.stringify(answer) });
        form.append(field);
        form.submit();
        return { ok: true };
      });
    });
  }
  const register = $("form[data-passkey-register]");
  if (register) {
    register.addEventListener("submit", async (event) => {
      event.preventDefault();
      // Adding a way in needs the password (or another passkey) in the same request.
      const name = $("#passkey_name", register).value.trim();
      const password = $("#passkey_password", register);
      let started;
      if (password) {
        started = await api("POST", "/api/auth/passkeys/register/start", { name, password: password.value });
      } else {
        const confirmed = await withPasskey(register, async (passkey) => {
          started = await api("POST", "/api/auth/passkeys/register/start", { name, passkey });
          return started;
        });
        if (!confirmed) return;
      }
      if (!started.ok) return showError(register, problemText(started));
      let credential;
      try {
        credential = await navigator.credentials.create({ publicKey: creationOptions(started.data.options.publicKey) });
      } catch {
        return showError(register, "No passkey was made.");
      }
      const finished = await api("POST", "/api/auth/passkeys/register/finish", { ceremony: started.data.ceremony, credential: credentialJson(credential) });
      if (!finished.ok) return showError(register, problemText(finished));
      window.location.assign("/settings#passkeys");
      window.location.reload();
    });
  }
}

// The replaced wrapper's sign-in broker sends the browser back with `#session_id=…`: the
// sign-in page hands it to clawhost (in X-Session-ID, as the wrapper did) and drops it from
// the address, whatever the answer.
async function sessionExchange() {
  const error = $('[data-field="exchange-error"]');
  const id = new URLSearchParams(window.location.hash.slice(1)).get("session_id");
  if (!error || !id) return;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  const response = await fetch("/api/auth/session-exchange", { method: "POST", credentials: "same-origin", headers: { "x-session-id": id } });
  if (response.ok) {
    window.location.assign(error.dataset.next || "/");
    return;
  }
  let detail = `The sign-in failed (${response.status}).`;
  try {
    detail = (await response.json()).detail || detail;
  } catch {
    // Not a problem document: the status says enough.
  }
  error.hidden = false;
  error.textContent = detail;
}

// "Continue to <issuer>" after linking was confirmed: a form may not redirect to another
// origin (CSP form-action 'self'), so the page links there, and with script goes on by itself.
function followToIssuer() {
  const link = $("a[data-follow]");
  if (link) window.location.assign(link.href);
}
/** The backups card: each step of a backup, restore or drill as it happens; the list anew
 * when one is done (after a restore that is the sign-in page: every session ended). */
function followBackups() {
  const card = $("[data-backups]");
  if (!card) return;
  const line = $("[data-backup-progress]", card);
  const source = new EventSource("/api/backups/events");
  const show = (event) => {
    const step = JSON.parse(event.data);
    line.textContent = step.detail;
    line.classList.toggle("alert", event.type === "failed");
    return step;
  };
  source.addEventListener("progress", show);
  source.addEventListener("failed", show);
  source.addEventListener("done", (event) => {
    const step = show(event);
    if (step.job !== "drill") window.setTimeout(() => window.location.assign("/settings#backups"), 1500);
  });
  // A restore ends every session, and with it this stream, often before its last step
  // arrives: the page reloads, and a page without a session goes to the sign-in.
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) window.location.assign("/settings#backups");
  });
  window.addEventListener("beforeunload", () => source.close());
}

/** The devices and the people asking to message the assistant (their page, the dashboard's
 * card): drawn again from the server whenever either changes, so a request shows while the
 * owner looks. */
function followDevices() {
  const live = $("[data-follow-devices]");
  if (!live) return;
  const source = new EventSource("/api/devices/events");
  // The first event of each kind is what the page was drawn from.
  const seen = new Set();
  const redraw = async (event) => {
    if (!seen.has(event.type)) {
      seen.add(event.type);
      return;
    }
    const response = await fetch(window.location.pathname, { headers: { accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById(live.id);
    const current = document.getElementById(live.id);
    if (!fresh || !current) return;
    current.replaceChildren(...fresh.childNodes);
    localTimes(current);
  };
  source.addEventListener("devices", redraw);
  source.addEventListener("dm_requests", redraw);
  window.addEventListener("beforeunload", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  followToIssuer();
  sessionExchange();
  passkeys();
  localTimes();
  retryWhenAvailable();
  channels();
  followWhatsAppLink();
  const live = $("#gateway") || $("#step-start");
  if (live) followGateway(document);
  enhanceGatewayForms();
  providerForm();
  logs();
  followBackups();
  followDevices();
});
