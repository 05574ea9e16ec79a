// End-to-end encrypted chat (docs/protocol.md, "End-to-end encryption").
//
// One X25519 key pair per person and case, made in the browser and never sent anywhere
// but its public half. A message is the JSON plaintext {id, n, text} sealed with
// nacl.box once per recipient. The server only ever holds the boxes.

import "/static/vendor/tweetnacl/nacl-fast.min.js";

const nacl = globalThis.nacl;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function toB64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

export function fromB64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** The key pair kept under `name` in `storage`, made on first use. */
export function loadKeyPair(storage, name) {
  const saved = storage.getItem(name);
  if (saved) {
    try {
      const secret = fromB64(saved);
      if (secret.length === nacl.box.secretKeyLength) return nacl.box.keyPair.fromSecretKey(secret);
    } catch {
      /* a damaged entry: make a new pair */
    }
  }
  const pair = nacl.box.keyPair();
  storage.setItem(name, toB64(pair.secretKey));
  return pair;
}

/** Seal `plaintext` (an object) for one recipient: {nonce, ciphertext} in base64. */
export function seal(plaintext, theirPublicB64, mySecret) {
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const message = encoder.encode(JSON.stringify(plaintext));
  const sealed = nacl.box(message, nonce, fromB64(theirPublicB64), mySecret);
  return { nonce: toB64(nonce), ciphertext: toB64(sealed) };
}

/** Open a box from (or, for one's own sent boxes, to) the holder of `theirPublicB64`.
 * Returns the parsed plaintext, or null if it does not open or is malformed. */
export function open(box, theirPublicB64, mySecret) {
  try {
    const opened = nacl.box.open(
      fromB64(box.ciphertext),
      fromB64(box.nonce),
      fromB64(theirPublicB64),
      mySecret,
    );
    if (!opened) return null;
    const plain = JSON.parse(decoder.decode(opened));
    if (!plain || typeof plain.text !== "string" || typeof plain.id !== "string") return null;
    return plain;
  } catch {
    return null;
  }
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** The 30-digit safety code of two public keys: SHA-512 over both keys sorted bytewise
 * and concatenated; the first 30 bytes as six 5-byte big-endian integers mod 100000. */
export function safetyCode(publicB64A, publicB64B) {
  const a = fromB64(publicB64A);
  const b = fromB64(publicB64B);
  const [first, second] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
  const joined = new Uint8Array(first.length + second.length);
  joined.set(first, 0);
  joined.set(second, first.length);
  const digest = nacl.hash(joined);
  const groups = [];
  for (let g = 0; g < 6; g++) {
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 256 + digest[g * 5 + i]; // < 2^40: exact
    groups.push(String(value % 100000).padStart(5, "0"));
  }
  return groups;
}

/** A per-key message counter, so a recipient can notice replays and reordering. */
export function nextCounter(storage, name) {
  const n = Number(storage.getItem(name) || "0") + 1;
  storage.setItem(name, String(n));
  return n;
}
