import { test, expect } from "@playwright/test";
import { PASSWORD, operator, hydrated, logInInBrowser, signUpInBrowser, storedSession, submitCredentials, uniqueEmail, watchConsole, screenshotPath } from "./helpers";

test("sign up lands on the dashboard, stores the token, and sends it as Bearer", async ({ page }) => {
  const problems = watchConsole(page);
  const bearerHeaders: string[] = [];
  page.on("request", (req) => {
    if (req.url().includes("/fn/whoami")) bearerHeaders.push(req.headers()["authorization"] ?? "");
  });
  const email = uniqueEmail("signup");
  await signUpInBrowser(page, email);

  const session = await storedSession(page);
  expect(session.user.email).toBe(email);
  expect(session.access_token.split(".")).toHaveLength(3);
  expect(session.refresh_token.length).toBeGreaterThan(20);
  expect(bearerHeaders.length).toBeGreaterThan(0);
  expect(bearerHeaders[0]).toBe(`Bearer ${session.access_token}`);
  await expect(page.getByTestId("signed-in-as")).toHaveText(email);
  await page.screenshot({ path: screenshotPath("dashboard"), fullPage: true });

  // A reload keeps the session: read from storage after hydration, no mismatch.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("me-email")).toHaveText(email);
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
