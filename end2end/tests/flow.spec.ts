import { test, expect, type Page } from "@playwright/test";
import { compactDecrypt, importJWK } from "jose";
import { PASSWORD, hydrated, signUpInBrowser, storedSession, submitCredentials, uniqueEmail, watchConsole, screenshotPath } from "./helpers";

async function step(page: Page, id: string) {
  return page.locator(`[data-step="${id}"]`);
}

test("the timeline fills in live during a sign-in and the calls that follow", async ({ page, request }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("flow");
  expect((await request.post("/api/auth/signup", { data: { email, password: PASSWORD } })).status()).toBe(201);

  await page.goto("/flow");
  await hydrated(page);
  await expect(await step(page, "credentials-sent")).toHaveAttribute("data-outcome", "waiting");
  await submitCredentials(page, "Log in", email);

  const sent = await step(page, "credentials-sent");
  await expect(sent).toHaveAttribute("data-outcome", "done");
  await expect(sent).toContainText(email);
  await expect(sent).toContainText("••••••••");
  await expect(sent).not.toContainText(PASSWORD);
  const verified = await step(page, "verified");
  await expect(verified).toHaveAttribute("data-outcome", "done");
  await expect(verified).toContainText("m=19456");
  await expect(verified).toContainText(/\d+(\.\d)? ms/);
  await expect(await step(page, "token-generated")).toContainText('"alg":"EdDSA"');
  await expect(await step(page, "token-generated")).toContainText('"role": "user"');
  await expect(await step(page, "returned")).toContainText("expires_in");
  await expect(await step(page, "stored")).toContainText('localStorage["tokenflow.session"]');
  await expect(page).toHaveURL(/\/flow$/);

  await page.getByRole("button", { name: "Call a protected function" }).click();
  const session = await storedSession(page);
  const bearer = await step(page, "sent-as-bearer");
  await expect(bearer).toHaveAttribute("data-outcome", "done");
  await expect(bearer).toContainText(`DPoP ${session.access_token.slice(0, 24)}`);
  await expect(bearer).toContainText('"typ":"dpop+jwt"');
  await expect(bearer).toContainText(session.dpop_jkt);
  const signature = await step(page, "signature-verified");
  await expect(signature).toHaveAttribute("data-outcome", "done");
  await expect(signature).toContainText("jwt;dur=");
  await expect(signature).toContainText("kid ");
  await expect(await step(page, "claims-extracted")).toContainText(session.user.id);
  await expect(await step(page, "authorized")).toContainText("200 OK");
  await expect(await step(page, "expiry-and-refresh")).toContainText(/expires in \d+ s/);

  await page.getByRole("button", { name: "Call the admin function" }).click();
  const authorized = await step(page, "authorized");
  await expect(authorized).toHaveAttribute("data-outcome", "refused");
  await expect(authorized).toContainText("403 insufficient_role");
  await expect(page.getByTestId("last-outcome")).toContainText("not authorized");

  await page.getByRole("button", { name: "Call without a token" }).click();
  await expect(authorized).toContainText("401 invalid_token: missing bearer token");
  await expect(page.getByTestId("last-outcome")).toContainText("authentication failed");
  await page.screenshot({ path: screenshotPath("flow"), fullPage: true });
  expect(problems).toEqual([]);
});

test("a sign-in before the flow page was opened is on its timeline, at the time it happened", async ({ page, request }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("before-flow");
  expect((await request.post("/api/auth/signup", { data: { email, password: PASSWORD } })).status()).toBe(201);
  // The flow page's code is a chunk of its own, fetched only when the page is first shown.
  const chunks: string[] = [];
  page.on("request", (r) => { if (/-chunk_\d+\.wasm$|-split___flow_page/.test(r.url())) chunks.push(r.url()); });

  const clock = () => page.evaluate(() => new Date().toTimeString().slice(0, 8));
  await page.goto("/login");
  await hydrated(page);
  const before = await clock();
  await submitCredentials(page, "Log in", email);
  await expect(page).toHaveURL(/\/dashboard$/);
  const after = await clock();
  expect(chunks.filter((u) => u.includes("flow_page"))).toEqual([]);
  // Long enough that a step stamped when replayed would show a later time.
  await page.waitForTimeout(2500);

  await page.getByRole("link", { name: "Flow", exact: true }).click();
  await expect(page).toHaveURL(/\/flow$/);
  const sent = await step(page, "credentials-sent");
  await expect(sent).toHaveAttribute("data-outcome", "done");
  await expect(sent).toContainText(email);
  const at = (await sent.locator(".at").textContent()) ?? "";
  expect(at >= before && at <= after, `stamped ${at}, signed in between ${before} and ${after}`).toBe(true);
  await expect(await step(page, "verified")).toHaveAttribute("data-outcome", "done");
  await expect(await step(page, "token-generated")).toContainText('"alg":"EdDSA"');
  await expect(await step(page, "stored")).toHaveAttribute("data-outcome", "done");
  expect(chunks.some((u) => u.includes("flow_page"))).toBe(true);

  // From here on it records live, as before.
  await page.getByRole("button", { name: "Call a protected function" }).click();
  await expect(await step(page, "authorized")).toContainText("200 OK");
  expect(problems).toEqual([]);
});

test("the inspector verifies the signature in the browser with the JWKS", async ({ page }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("inspect");
  await signUpInBrowser(page, email);

  // Count JWKS fetches: the verification must use the published keys, fetched by the browser.
  let jwksFetches = 0;
  page.on("request", (req) => { if (req.url().endsWith("/.well-known/jwks.json")) jwksFetches++; });
  await page.goto("/flow");
  await hydrated(page);
  const verdict = page.getByTestId("signature-verdict");
  await expect(verdict).toHaveAttribute("data-outcome", "done");
  await expect(verdict).toContainText("Signature valid");
  expect(jwksFetches).toBeGreaterThan(0);
  await expect(page.getByTestId("decoded-header")).toContainText('"typ": "at+jwt"');
  await expect(page.getByTestId("decoded-claims")).toContainText(email);
  await expect(page.getByTestId("decoded-claims")).toContainText("Audience");
  await expect(page.getByTestId("countdown")).toContainText(/Expires in \d+ s/);

  // Paste a token whose payload was edited: the browser's own check fails.
  const token: string = (await storedSession(page)).access_token;
  const [h, p, s] = token.split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  claims.role = "admin";
  const edited = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
  await page.getByLabel("Token", { exact: true }).fill(edited);
  await expect(verdict).toHaveAttribute("data-outcome", "refused");
  await expect(verdict).toContainText("does not match");
  await page.getByRole("button", { name: "Use my current token" }).click();
  await expect(verdict).toHaveAttribute("data-outcome", "done");
  await page.locator("#inspector").screenshot({ path: screenshotPath("inspector") });
  expect(problems).toEqual([]);
});

test("every tamper-lab forgery is refused with its reason", async ({ page }) => {
  const problems = watchConsole(page);
  await signUpInBrowser(page, uniqueEmail("tamper"));
  await page.goto("/flow");
  await hydrated(page);
  await page.getByRole("button", { name: "Send every forgery" }).click();
  const expected: Record<string, string> = {
    "role-admin": "signature does not verify",
    "alg-none": "algorithm not allowed",
    "hs256-public-key": "algorithm not allowed",
    "expired": "signature does not verify",
    "wrong-audience": "signature does not verify",
    "unknown-kid": "unknown key id",
    "signature-stripped": "signature does not verify",
    "other-key": "signature does not verify",
  };
  for (const [id, reason] of Object.entries(expected)) {
    await expect(page.getByTestId(`answer-${id}`)).toHaveText(`401 invalid_token: ${reason}`);
  }
  // The real token still works: the lab forged copies, it did not spoil the session.
  await page.getByRole("button", { name: "Call a protected function" }).click();
  await expect(page.locator('[data-step="authorized"]')).toContainText("200 OK");
  await page.locator("#tamper-lab").screenshot({ path: screenshotPath("tamper-lab") });
  expect(problems).toEqual([]);
});

test("after a logout the JWKS-only verifier still accepts the token and Tokenflow refuses it", async ({ page, request }) => {
  const problems = watchConsole(page);
  await signUpInBrowser(page, uniqueEmail("verifiers"));
  await page.goto("/flow");
  await hydrated(page);
  const token: string = (await storedSession(page)).access_token;
  await page.getByRole("button", { name: "Log out and compare" }).click();
  await expect(page.getByTestId("jwks-only-verdict")).toContainText(/accepted: the signature verifies with the JWKS, and it expires in \d+ s/);
  await expect(page.getByTestId("tokenflow-verdict")).toContainText("refused: 401 invalid_token: session revoked");
  await expect(page.getByTestId("tokenflow-verdict")).toContainText(/\(\d+ ms after the logout\)/);
  expect(await storedSession(page)).toBeNull();
  // The server agrees with its own panel: the token is refused through the REST API too.
  const me = await request.get("/api/me", { headers: { Authorization: `Bearer ${token}` } });
  expect(me.status()).toBe(401);
  await page.locator("#verifiers").screenshot({ path: screenshotPath("verifiers") });
  expect(problems).toEqual([]);
});

test("a stolen DPoP-bound token is refused four ways, each with its reason and a curl line that repeats it", async ({ page, request }) => {
  const problems = watchConsole(page);
  await signUpInBrowser(page, uniqueEmail("thief"));
  await page.goto("/flow");
  await hydrated(page);
  await page.getByRole("button", { name: "Steal it and replay it" }).click();
  const table = page.getByTestId("steal-table");
  await expect(page.getByTestId("steal-holder")).toContainText(/^200 OK as thief-/);
  await expect(page.getByTestId("steal-bearer")).toHaveText("401 invalid_token: token is DPoP-bound");
  await expect(page.getByTestId("steal-other-key")).toHaveText("401 invalid_dpop_proof: DPoP proof key is not the one the token is bound to");
  await expect(page.getByTestId("steal-replayed")).toHaveText("401 invalid_dpop_proof: DPoP proof was already used");
  await expect(page.getByTestId("steal-other-url")).toHaveText("401 invalid_dpop_proof: DPoP proof htu does not match the request URL");
  await expect(table.locator('[data-attempt="replayed"]')).toContainText('WWW-Authenticate: DPoP error="invalid_dpop_proof"');

  // The curl lines say exactly what was sent: replayed here, each gets the same refusal.
  const session = await storedSession(page);
  for (const [id, message] of [
    ["bearer", "token is DPoP-bound"],
    ["replayed", "DPoP proof was already used"],
    ["other-url", "DPoP proof htu does not match the request URL"],
    ["other-key", "DPoP proof key is not the one the token is bound to"],
  ]) {
    const curl = (await page.getByTestId(`curl-${id}`).textContent())!;
    expect(curl).toContain(session.access_token);
    const headers: Record<string, string> = {};
    for (const [, name, value] of curl.matchAll(/-H '([^:]+): ([^']+)'/g)) headers[name] = value;
    const answer = await request.get("/api/me", { headers });
    expect(answer.status(), id).toBe(401);
    expect((await answer.json()).message, id).toBe(message);
  }
  await page.locator("#steal-lab").screenshot({ path: screenshotPath("steal-lab") });
  expect(problems).toEqual([]);
});

test("signed is not secret: the claims encrypted to a JWE in the browser, unreadable, and decrypted back, also by an independent library", async ({ page }) => {
  const problems = watchConsole(page);
  await signUpInBrowser(page, uniqueEmail("jwe"));
  await page.goto("/flow");
  await hydrated(page);
  await page.getByRole("button", { name: "Encrypt my claims, then decrypt them" }).click();
  const compact = (await page.getByTestId("jwe-compact").textContent())!;
  expect(compact.split(".")).toHaveLength(5);
  const session = await storedSession(page);
  const claims = JSON.parse(Buffer.from(session.access_token.split(".")[1], "base64url").toString());
  expect(compact).not.toContain(session.access_token.split(".")[1].slice(0, 20));
  await expect(page.getByTestId("jwe-unreadable")).toContainText("decoding it as a token's claims");
  expect(JSON.parse((await page.getByTestId("jwe-decrypted").textContent())!)).toEqual(claims);
  // RFC 7516/7518 as another implementation reads them: jose decrypts it with the demo key.
  const key = JSON.parse((await page.getByTestId("jwe-key").textContent())!);
  const { plaintext, protectedHeader } = await compactDecrypt(compact, await importJWK(key, "ECDH-ES+A256KW"));
  expect(protectedHeader.alg).toBe("ECDH-ES+A256KW");
  expect(protectedHeader.enc).toBe("A256GCM");
  expect(JSON.parse(new TextDecoder().decode(plaintext))).toEqual(claims);
  await page.locator("#jwe").screenshot({ path: screenshotPath("jwe") });
  expect(problems).toEqual([]);
});
