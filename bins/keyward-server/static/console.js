// keyward console: the browser half of WebAuthn (passkey registration and sign-in).
// The server answers the options as JSON with binary fields in URL-safe base64; this script
// turns them into ArrayBuffers for navigator.credentials, and the authenticator's answer back.
"use strict";

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let raw = "";
  for (const b of bytes) raw += String.fromCharCode(b);
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function showError(message) {
  const box = document.getElementById("webauthn-error");
  box.textContent = message;
  box.hidden = false;
}

async function post(url, body, csrf) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const answer = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
  const json = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const e = json.error || {};
    throw new Error((e.code ? e.code + ": " : "") + (e.message || answer.statusText));
  }
  return json;
}

function creationOptions(options) {
  const pk = options.publicKey;
  pk.challenge = fromB64url(pk.challenge);
  pk.user.id = fromB64url(pk.user.id);
  (pk.excludeCredentials || []).forEach((c) => { c.id = fromB64url(c.id); });
  return { publicKey: pk };
}

function requestOptions(options) {
  const pk = options.publicKey;
  pk.challenge = fromB64url(pk.challenge);
  (pk.allowCredentials || []).forEach((c) => { c.id = fromB64url(c.id); });
  return { publicKey: pk };
}

function registration(cred) {
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    extensions: cred.getClientExtensionResults(),
    response: {
      attestationObject: toB64url(cred.response.attestationObject),
      clientDataJSON: toB64url(cred.response.clientDataJSON),
    },
  };
}

function assertion(cred) {
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    extensions: cred.getClientExtensionResults(),
    response: {
      authenticatorData: toB64url(r.authenticatorData),
      clientDataJSON: toB64url(r.clientDataJSON),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : null,
    },
  };
}

async function signIn(form) {
  const email = form.querySelector("[name=email]").value;
  const started = await post("/console/sign-in/start", { email });
  const cred = await navigator.credentials.get(requestOptions(started.options));
  const done = await post("/console/sign-in/finish", { ceremony: started.ceremony, credential: assertion(cred) });
  window.location.assign(done.redirect);
}

async function enroll(form) {
  const csrf = form.dataset.csrf;
  const started = await post(form.dataset.start, {}, csrf);
  const cred = await navigator.credentials.create(creationOptions(started.options));
  const label = form.querySelector("[name=label]").value;
  await post(form.dataset.finish, { ceremony: started.ceremony, credential: registration(cred), label }, csrf);
  form.hidden = true;
  document.getElementById("webauthn-done").hidden = false;
}

for (const form of document.querySelectorAll("form[data-webauthn]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    document.getElementById("webauthn-error").hidden = true;
    const run = form.dataset.webauthn === "sign-in" ? signIn : enroll;
    run(form).catch((e) => showError(e.message || String(e)));
  });
}
