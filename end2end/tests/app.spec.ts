import { test, expect } from "@playwright/test";
import { createHash } from "node:crypto";
import { PASSWORD, operator, hydrated, jwsPart, logInInBrowser, signUpInBrowser, storedProofKey, storedSession, submitCredentials, uniqueEmail, watchConsole, withoutWebCrypto, screenshotPath } from "./helpers";

/** RFC 7638 thumbprint of a P-256 public key. */
function thumbprint(jwk: { x: string; y: string }): string {
  return createHash("sha256").update(`{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`).digest("base64url");
}

test("sign up binds the session to a key the page cannot export, sends DPoP proofs, and a reload keeps it", async ({ page }) => {
  const problems = watchConsole(page);
  const calls: { authorization: string; dpop: string }[] = [];
  page.on("request", (req) => {
    const headers = req.headers();
    if (req.url().includes("/fn/whoami")) calls.push({ authorization: headers["authorization"] ?? "", dpop: headers["dpop"] ?? "" });
  });
  const email = uniqueEmail("signup");
  await signUpInBrowser(page, email);

  const session = await storedSession(page);
  expect(session.user.email).toBe(email);
  expect(session.refresh_token.length).toBeGreaterThan(20);
  const claims = jwsPart(session.access_token, 1);
  expect(session.dpop_jkt).toBe(claims.cnf.jkt);
  const key = await storedProofKey(page);
  expect(key).not.toBeNull();
  expect(thumbprint(key!)).toBe(claims.cnf.jkt);
  expect(key!.extractable).toBe(false);
  expect(key!.exported, "the private key cannot be read out, not even by the page's own script").toBe(false);

  expect(calls.length).toBeGreaterThan(0);
  expect(calls[0].authorization).toBe(`DPoP ${session.access_token}`);
  const header = jwsPart(calls[0].dpop, 0);
  expect(header.typ).toBe("dpop+jwt");
  expect(header.alg).toBe("ES256");
  expect(header.jwk.d).toBeUndefined();
  expect(thumbprint(header.jwk)).toBe(claims.cnf.jkt);
  const proof = jwsPart(calls[0].dpop, 1);
  expect(proof.htm).toBe("POST");
  expect(proof.htu).toMatch(/\/fn\/whoami$/);
  expect(proof.ath).toBe(createHash("sha256").update(session.access_token).digest("base64url"));
  await expect(page.getByTestId("signed-in-as")).toHaveText(email);
  await page.screenshot({ path: screenshotPath("dashboard"), fullPage: true });

  // A reload keeps the session and its key (from IndexedDB): a fresh proof by the same key.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("me-email")).toHaveText(email);
  const last = calls[calls.length - 1];
  expect(thumbprint(jwsPart(last.dpop, 0).jwk)).toBe(claims.cnf.jkt);
  expect(jwsPart(last.dpop, 1).jti).not.toBe(proof.jti);

  // Logging out forgets the key.
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect.poll(() => storedProofKey(page)).toBeNull();
  expect(problems).toEqual([]);
});

test("without WebCrypto the page falls back to a bearer session", async ({ page }) => {
  const problems = watchConsole(page);
  await withoutWebCrypto(page);
  const authorizations: string[] = [];
  page.on("request", (req) => {
    if (req.url().includes("/fn/whoami")) authorizations.push(req.headers()["authorization"] ?? "");
    if (req.url().includes("/fn/")) expect(req.headers()["dpop"]).toBeUndefined();
  });
  await signUpInBrowser(page, uniqueEmail("bearer"));
  const session = await storedSession(page);
  expect(session.dpop_jkt).toBeNull();
  expect(jwsPart(session.access_token, 1).cnf).toBeUndefined();
  expect(authorizations[0]).toBe(`Bearer ${session.access_token}`);
  expect(problems).toEqual([]);
});

test("the server renders protected pages as a neutral placeholder", async ({ request }) => {
  const html = await (await request.get("/dashboard")).text();
  expect(html).toContain("Checking your session");
  expect(html).not.toContain("Signed in as");
});

test("a user gets the 403 page on /admin and an admin sees the list", async ({ page, browser }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("plain");
  await signUpInBrowser(page, email);
  await page.goto("/admin");
  await expect(page.getByTestId("forbidden")).toContainText("403 forbidden: admins only");
  await expect(page.getByTestId("user-list")).toHaveCount(0);
  await page.screenshot({ path: screenshotPath("admin-forbidden"), fullPage: true });
  expect(problems).toEqual([]);

  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  const adminProblems = watchConsole(admin);
  // AUTH_ADMIN_EMAILS lists this address, but signing up with it proves nothing: only the
  // operator (or, later, a verified mailbox) makes an admin.
  await signUpInBrowser(admin, "admin@tokenflow.test");
  await expect(admin.getByTestId("me-role")).toHaveText("user");
  promote("admin@tokenflow.test");
  await admin.getByRole("button", { name: "Log out" }).click();
  await expect(admin).toHaveURL(/\/login/);
  await logInInBrowser(admin, "admin@tokenflow.test");
  await expect(admin.getByTestId("me-role")).toHaveText("admin");
  await admin.goto("/admin");
  const list = admin.getByTestId("user-list");
  await expect(list).toContainText("admin@tokenflow.test");
  await expect(list).toContainText(email);
  await admin.screenshot({ path: screenshotPath("admin"), fullPage: true });
  expect(adminProblems).toEqual([]);
  await adminContext.close();
});

test("log out clears storage and protected pages then go to the login", async ({ page }) => {
  const problems = watchConsole(page);
  // A bearer session, so that this test can present the token itself afterwards.
  await withoutWebCrypto(page);
  await signUpInBrowser(page, uniqueEmail("leaver"));
  const token = (await storedSession(page)).access_token;
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  expect(await storedSession(page)).toBeNull();

  await page.goto("/account");
  await expect(page).toHaveURL(/\/login\?next=\/account$/);
  // The server revoked the session too: the old token is refused.
  const me = await page.request.get("/api/me", { headers: { authorization: `Bearer ${token}` } });
  expect(me.status()).toBe(401);
  expect((await me.json()).message).toBe("session revoked");
  expect(problems).toEqual([]);
});

test("login goes to next, and a wrong password shows an error and stores nothing", async ({ page, request }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("returning");
  expect((await request.post("/api/auth/signup", { data: { email, password: PASSWORD } })).status()).toBe(201);

  await logInInBrowser(page, email, "not my password");
  await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");
  expect(await storedSession(page)).toBeNull();
  await expect(page).toHaveURL(/\/login$/);
  await page.screenshot({ path: screenshotPath("login-error"), fullPage: true });

  await page.goto("/account");
  await expect(page).toHaveURL(/\/login\?next=\/account$/);
  await hydrated(page);
  await submitCredentials(page, "Log in", email);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("sessions")).toContainText("This session");
  await page.screenshot({ path: screenshotPath("account"), fullPage: true });
  expect(problems).toEqual([]);
});

test("sign-up errors are shown in plain words", async ({ page, request }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("taken");
  expect((await request.post("/api/auth/signup", { data: { email, password: PASSWORD } })).status()).toBe(201);
  await page.goto("/signup");
  await hydrated(page);
  await submitCredentials(page, "Sign up", email);
  await expect(page.getByRole("alert")).toContainText("already exists");
  await submitCredentials(page, "Sign up", uniqueEmail("weak"), "short");
  await expect(page.getByRole("alert")).toContainText("at least 8 characters");
  await page.screenshot({ path: screenshotPath("signup-error"), fullPage: true });
  expect(await storedSession(page)).toBeNull();
  expect(problems).toEqual([]);
});

test("sessions: log out another session; a password change logs out the others", async ({ page, request }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("multi");
  await signUpInBrowser(page, email);
  const other = await (await request.post("/api/auth/login", { data: { email, password: PASSWORD } })).json();
  await page.goto("/account");
  await expect(page.getByTestId("sessions").locator("tbody tr")).toHaveCount(2);
  await page.getByTestId("sessions").getByRole("button", { name: "Log out" }).click();
  await expect(page.getByTestId("sessions").locator("tbody tr")).toHaveCount(1);
  const refused = await request.get("/api/me", { headers: { authorization: `Bearer ${other.access_token}` } });
  expect(refused.status()).toBe(401);

  const third = await (await request.post("/api/auth/login", { data: { email, password: PASSWORD } })).json();
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill("a brand new password");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Password changed" })).toBeVisible();
  expect((await request.get("/api/me", { headers: { authorization: `Bearer ${third.access_token}` } })).status()).toBe(401);
  await page.reload();
  await expect(page.getByTestId("sessions").locator("tbody tr")).toHaveCount(1);
  expect(problems).toEqual([]);
});

test("after login, next never leaves the site, however it is disguised", async ({ page }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("next");
  await signUpInBrowser(page, email);
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login/);
  for (const next of ["/%09/evil.example", "/%0A/evil.example", "//evil.example", "/%5Cevil.example", "https://evil.example/"]) {
    await page.goto(`/login?next=${next}`);
    await hydrated(page);
    await submitCredentials(page, "Log in", email);
    await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/dashboard$/);
    await page.getByRole("button", { name: "Log out" }).click();
    await expect(page).toHaveURL(/\/login/);
  }
  // A real local path is still honoured.
  await page.goto("/login?next=/account");
  await hydrated(page);
  await submitCredentials(page, "Log in", email);
  await expect(page).toHaveURL(/\/account$/);
  expect(problems).toEqual([]);
});

/** `tokenflow users promote EMAIL` on the main server's database, as an operator runs it. */
function promote(email: string): void {
  operator("users", "promote", email);
}
