import { test, expect, type Browser, type Page } from "@playwright/test";
import { PASSWORD, hydrated, logInInBrowser, operator, screenshotPath, signUpInBrowser, uniqueEmail, watchConsole } from "./helpers";

/** Open the newest mail to `email` whose text contains `kind` from the outbox page, and follow its link. */
async function followMail(page: Page, email: string, kind: string): Promise<void> {
  await page.goto("/outbox");
  await hydrated(page);
  const mail = page.getByTestId("mail").filter({ hasText: email }).filter({ hasText: kind }).first();
  await expect(mail).toBeVisible();
  await mail.getByTestId("mail-link").click();
}

async function adminPage(browser: Browser): Promise<Page> {
  const admin = await (await browser.newContext()).newPage();
  const email = uniqueEmail("boss");
  await signUpInBrowser(admin, email);
  operator("users", "promote", email);
  await admin.getByRole("button", { name: "Log out" }).click();
  await logInInBrowser(admin, email);
  await expect(admin.getByTestId("me-role")).toHaveText("admin");
  return admin;
}

test("sign up, open the mail from the outbox, verify", async ({ page }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("verify");
  await signUpInBrowser(page, email);
  await expect(page.getByTestId("email-state")).toHaveText("not verified yet");
  await page.goto("/outbox");
  await hydrated(page);
  await expect(page.getByTestId("mail").filter({ hasText: email }).first()).toContainText("Confirm your email");
  await page.screenshot({ path: screenshotPath("outbox"), fullPage: true });
  await followMail(page, email, "Confirm your email");
  await expect(page).toHaveURL(/\/verify-email\?token=/);
  await expect(page.getByTestId("outcome")).toContainText(`${email} is verified`);
  await page.screenshot({ path: screenshotPath("verify-email"), fullPage: true });
  await page.goto("/dashboard");
  await expect(page.getByTestId("email-state")).toHaveText("verified");
  expect(problems).toEqual([]);
});

test("forgot password, reset by the mailed link, log in with the new one; the old sessions are gone", async ({ page, browser }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("forgetful");
  await signUpInBrowser(page, email);
  const other = await (await browser.newContext()).newPage();
  await logInInBrowser(other, email);
  await expect(other).toHaveURL(/\/dashboard$/);

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.getByRole("link", { name: "Forgot password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Mail me a link" }).click();
  await expect(page.getByTestId("outcome")).toContainText("If an account with this email exists");

  await followMail(page, email, "Reset your Tokenflow password");
  await expect(page).toHaveURL(/\/reset-password\?token=/);
  await hydrated(page);
  await page.getByLabel("New password").fill("my brand new passphrase");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page.getByTestId("outcome")).toContainText("new password is set");
  await page.screenshot({ path: screenshotPath("reset-password"), fullPage: true });

  await logInInBrowser(page, email, PASSWORD);
  await expect(page.getByRole("alert")).toContainText(/email or password/i);
  await logInInBrowser(page, email, "my brand new passphrase");
  await expect(page).toHaveURL(/\/dashboard$/);
  // The other browser's session was revoked with the reset: its next call sends it to log in.
  await other.goto("/account");
  await expect(other).toHaveURL(/\/login/);
  expect(problems).toEqual([]);
});

test("an admin disables a signed-in user, who is sent to the login page and cannot log in", async ({ page, browser }) => {
  const email = uniqueEmail("disabled");
  await signUpInBrowser(page, email);
  const admin = await adminPage(browser);
  const problems = watchConsole(admin);
  await admin.goto("/admin");
  await hydrated(admin);
  await admin.getByLabel("Email contains").fill(email);
  await admin.getByRole("button", { name: "Search" }).click();
  const row = admin.locator(`tr[data-email="${email}"]`);
  await expect(row).toBeVisible();
  await row.getByRole("button", { name: "Disable" }).click();
  await expect(admin.getByTestId("admin-notice")).toContainText("is disabled");
  await expect(row).toContainText("disabled");
  await admin.screenshot({ path: screenshotPath("admin-actions"), fullPage: true });

  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login/);
  await logInInBrowser(page, email);
  await expect(page.getByRole("alert")).toContainText(/disabled/i);

  await row.getByRole("button", { name: "Enable" }).click();
  await expect(admin.getByTestId("admin-notice")).toContainText("enabled again");
  const audit = admin.getByTestId("events");
  await expect(audit.locator('tr[data-type="account_enabled"]').first()).toBeVisible();
  expect(problems).toEqual([]);
});

test("security activity lists what just happened, and the account can be deleted", async ({ page, browser }) => {
  const problems = watchConsole(page);
  const email = uniqueEmail("activity");
  await signUpInBrowser(page, email);
  const stranger = await (await browser.newContext()).newPage();
  await logInInBrowser(stranger, email, "not the password");
  await expect(stranger.getByRole("alert")).toContainText(/email or password/i);

  await page.goto("/account");
  const activity = page.getByTestId("security-activity");
  await expect(async () => {
    await page.reload();
    await expect(activity.locator('tr[data-type="login_failed"]')).toHaveCount(1, { timeout: 1000 });
  }).toPass();
  await expect(activity.locator('tr[data-type="signup"]')).toHaveCount(1);
  await page.screenshot({ path: screenshotPath("account-activity"), fullPage: true });

  await page.getByLabel("Password", { exact: true }).last().fill(PASSWORD);
  await page.getByLabel("I understand").check();
  await page.getByRole("button", { name: "Delete my account" }).click();
  await expect(page).toHaveURL(/\/\?deleted=1$/);
  await logInInBrowser(page, email);
  await expect(page.getByRole("alert")).toContainText(/email or password/i);
  expect(problems).toEqual([]);
});
