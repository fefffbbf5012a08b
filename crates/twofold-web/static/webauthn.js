// Security keys and passkeys: the browser's half of each WebAuthn ceremony. Buttons name
// their ceremony in data-webauthn; options come from the JSON API, answers go back to it.
"use strict";

(() => {
  const supported = window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function";

  const showError = (text) => {
    const box = document.getElementById("webauthn-error");
    if (box) { box.textContent = text; box.hidden = false; }
  };

  const post = async (path, csrf, body) => {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, {
      method: "POST", headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error && data.error.message) || "Something went wrong.");
    return data;
  };

  const cancelled = (e) => e && e.name === "NotAllowedError";

  const ceremonies = {
    // The second step: the person's registered keys.
    "second-step": async (button) => {
      const csrf = button.dataset.csrf;
      const start = await post("/api/v1/login/webauthn/challenge", csrf);
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(start.public_key);
      const credential = await navigator.credentials.get({ publicKey });
      await post("/api/v1/login/webauthn", csrf, { challenge_id: start.challenge_id, credential: credential.toJSON() });
      window.location.assign("/home");
    },
    // A passkey, without a password.
    "passkey": async () => {
      const start = await post("/api/v1/login/passkey/challenge");
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(start.public_key);
      const credential = await navigator.credentials.get({ publicKey });
      await post("/api/v1/login/passkey", null, { challenge_id: start.challenge_id, credential: credential.toJSON() });
      window.location.assign("/home");
    },
    // "Add a security key or passkey" on the profile.
    "register": async (button) => {
      const csrf = button.dataset.csrf;
      const nameField = document.getElementById("key-name");
      const name = nameField ? nameField.value.trim() : "";
      if (!name) { showError("Name the key first, such as \"YubiKey on my keyring\"."); return; }
      // Adding a key is a change a thief could use: the password confirms it (SEC-46).
      const passwordField = document.getElementById("key-password");
      const password = passwordField ? passwordField.value : "";
      if (!password) { showError("Enter your password to add a key."); return; }
      const start = await post("/api/v1/me/security-keys/registration", csrf);
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(start.public_key);
      const credential = await navigator.credentials.create({ publicKey });
      const done = await post("/api/v1/me/security-keys", csrf,
        { challenge_id: start.challenge_id, name, credential: credential.toJSON(), password });
      if (passwordField) passwordField.value = "";
      if (done.recovery_codes) {
        const list = document.getElementById("new-recovery-codes");
        list.textContent = done.recovery_codes.join("\n");
        document.getElementById("new-recovery-codes-box").hidden = false;
        return "done"; // the codes stay on screen until "I have saved them"
      }
      window.location.assign(button.dataset.done || window.location.pathname);
    },
  };

  document.querySelectorAll("[data-webauthn]").forEach((button) => {
    if (!supported) {
      if (button.dataset.webauthn !== "passkey") {
        button.disabled = true;
        showError("This browser cannot use security keys.");
      }
      return;
    }
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      let outcome;
      try {
        outcome = await ceremonies[button.dataset.webauthn](button);
      } catch (e) {
        showError(cancelled(e) ? "The security key prompt was closed or timed out. Try again." : e.message);
      }
      button.disabled = outcome === "done";
    });
  });
})();
