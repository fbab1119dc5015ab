// Access tokens for the sessions bench/seed.sql made, signed with the server's own key as the
// server would sign them, so that a benchmark can present tokens no instance has seen for
// sessions no instance has read: the first-sight path (signature verify, session read).
// Usage: node bench/mint.mjs KEY_PEM_FILE KID ISSUER FIRST COUNT > tokens
// (seeded account g has id md5('user'||g) and session md5('session'||g), as UUIDs.)
import { createHash, createPrivateKey, randomUUID, sign } from "node:crypto";
import fs from "node:fs";

const [pemFile, kid, issuer, first, count] = process.argv.slice(2);
// The stored key is PKCS#8 v2 (with its public half), which OpenSSL may refuse: take the
// 32-byte seed (the OCTET STRING inside the privateKey OCTET STRING) into a v1 document.
const der = Buffer.from(fs.readFileSync(pemFile, "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64");
const at = der.indexOf(Buffer.from([0x04, 0x22, 0x04, 0x20]));
const seed = der.subarray(at + 4, at + 36);
const key = createPrivateKey({
  key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
  format: "der",
  type: "pkcs8",
});
const b64 = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const uuid = (text) => {
  const h = createHash("md5").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const header = b64({ alg: "EdDSA", typ: "at+jwt", kid });
const now = Math.floor(Date.now() / 1000);
const out = [];
for (let g = Number(first); g < Number(first) + Number(count); g++) {
  const claims = {
    iss: issuer, aud: "tokenflow", sub: uuid(`user${g}`), exp: now + 900, nbf: now, iat: now,
    jti: randomUUID(), sid: uuid(`session${g}`), email: `seed${g}@scale.example`, email_verified: true, role: "user",
  };
  const input = `${header}.${b64(claims)}`;
  out.push(`${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`);
}
fs.writeSync(1, out.join("\n") + "\n");
