// HTTP and socket.io helpers. Every failure becomes {ok: false, error: {code}}, so the
// pages show a catalogue message for the code and never the server's raw text.

import { io } from "/static/vendor/socket.io-client/socket.io.esm.min.js";

/** POST JSON; returns {ok, status, body}. Network failure is code "network". */
export async function postJSON(path, body, { token } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await fetch(path, {
      method: "POST",
      headers,
      body: JSON.stringify(body ?? {}),
      credentials: "same-origin",
      cache: "no-store",
    });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, body: data };
  } catch {
    return { ok: false, status: 0, body: { error: { code: "network" } } };
  }
}

export async function getJSON(path) {
  try {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, body: data };
  } catch {
    return { ok: false, status: 0, body: { error: { code: "network" } } };
  }
}

/** The error code of a failed HTTP result or socket acknowledgement. */
export function errorCode(result) {
  const body = result && (result.body || result);
  return (body && body.error && body.error.code) || "internal";
}

/** A socket.io connection to this origin; it reconnects by itself. The case id rides in
 * the query string (never a token) so a load balancer can keep a case on one node. */
export function openSocket(auth, caseId) {
  return io({
    auth,
    query: caseId ? { case: caseId } : {},
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    timeout: 10000,
  });
}

/** Emit with an acknowledgement and a timeout; never throws. */
export async function call(socket, event, payload = {}, timeoutMs = 5000) {
  try {
    const ack = await socket.timeout(timeoutMs).emitWithAck(event, payload);
    return ack && typeof ack === "object" ? ack : { ok: false, error: { code: "internal" } };
  } catch {
    return { ok: false, error: { code: "timeout" } };
  }
}

/** A random identifier for messages (URL-safe, 22 characters). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}
