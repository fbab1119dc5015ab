import { test, expect, type Page } from "@playwright/test";
import { createHmac } from "node:crypto";
import { PASSWORD, hydrated, jwsPart, signUpInBrowser, storedSession, submitCredentials, uniqueEmail, watchConsole, screenshotPath } from "./helpers";

/** RFC 4648 base32 (no padding) to bytes. */
function base32(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s) of the step `offset` steps from now, computed here. */
function totp(secret: string, offset = 0): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offset));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, "0");
}

/** Wait out the end of a TOTP step, so the codes computed next stay within the server's window. */
async function earlyInAStep(): Promise<void> {
  const left = 30 - (Math.floor(Date.now() / 1000) % 30);
  if (left < 6) await new Promise((resolve) => setTimeout(resolve, (left + 1) * 1000));
}

/** Log out from the header; the page lands on a plain /login (no way back to the page left). */
async function logOut(page: Page): Promise<void> {
  await page.locator("header").getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await hydrated(page);
  await expect(page).toHaveURL(/\/login$/);
}

test("an authenticator app is enrolled with its QR code and a code computed here, then asked for at sign-in", async ({ page }) => {
  const problems = watchConsole(page);
  await earlyInAStep();
  const email = uniqueEmail("totp");
  await signUpInBrowser(page, email);
  await page.goto("/account");
  await hydrated(page);
  await page.getByTestId("totp-begin").click();
  const enrolment = page.getByTestId("totp-enrolment");
  await expect(enrolment.locator(".qr svg")).toBeVisible();
  const secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  await page.getByLabel("The code it shows").fill(totp(secret, -1));
  await enrolment.getByRole("button", { name: "Confirm" }).click();
  const codes = page.getByTestId("recovery-codes").locator("li");
  await expect(codes).toHaveCount(10);
  await expect(page.getByTestId("factor-summary")).toHaveText("Authenticator app: on (10 recovery codes left).");
  const first = (await codes.first().textContent()) ?? "";

  // New recovery codes need a second factor in this sign-in, which was a password alone: the
  // page asks to confirm, then renews them by itself.
  await page.getByRole("button", { name: "New recovery codes" }).click();
  const stepUp = page.getByTestId("step-up");
  await expect(stepUp).toBeVisible();
  // /flow (reached in the page, so it replays what happened) shows the refusal and its header.
  await page.locator("header").getByRole("link", { name: "Flow", exact: true }).click();
  const refusal = page.locator('li[data-step="second-factor"]');
  await expect(refusal).toHaveAttribute("data-outcome", "refused");
  await expect(refusal).toContainText("401 insufficient_user_authentication");
  // The page's session is DPoP-bound, so the challenge is in the DPoP scheme (RFC 9449 §7.1).
  await expect(refusal).toContainText('DPoP error="insufficient_user_authentication"');
  await expect(refusal).toContainText('max_age="600", acr_values="2", algs="ES256 EdDSA"');
  await page.getByTestId("timeline").screenshot({ path: screenshotPath("step-up-refused") });
  await page.locator("header").getByRole("link", { name: "Account", exact: true }).click();
  await page.getByRole("button", { name: "New recovery codes" }).click();
  await expect(stepUp).toBeVisible();
  await stepUp.getByLabel("Password").fill(PASSWORD);
  await stepUp.getByLabel("Code from your authenticator app").fill(totp(secret));
  await stepUp.getByRole("button", { name: "Confirm" }).click();
  await expect(stepUp).toBeHidden();
  await expect(page.getByTestId("factors-notice")).toHaveText("New recovery codes: the old ones no longer work.");
  await expect(codes).toHaveCount(10);
  await expect(codes.first()).not.toHaveText(first);
  await page.screenshot({ path: screenshotPath("second-factors"), fullPage: true });
  const recovery = (await codes.first().textContent()) ?? "";
  const stepped = jwsPart((await storedSession(page)).access_token, 1);
  expect(stepped.amr).toEqual(["pwd", "otp", "mfa"]);
  // The timeline has the step-up; the inspector says what amr and auth_time mean.
  await page.locator("header").getByRole("link", { name: "Flow", exact: true }).click();
  const second = page.locator('li[data-step="second-factor"]');
  await expect(second).toHaveAttribute("data-outcome", "done");
  await expect(second).toContainText("authenticated again in the same session");
  await expect(page.getByTestId("decoded-claims")).toContainText("How you authenticated (RFC 8176)");
  await expect(page.getByTestId("decoded-claims")).toContainText("When you last presented a factor");
  await page.locator("header").getByRole("link", { name: "Account", exact: true }).click();
  await expect(codes).toHaveCount(0);

  // The password alone no longer signs in: the second step asks for a code.
  await logOut(page);
  await submitCredentials(page, "Log in", email);
  await expect(page).toHaveURL(/\/second-factor\?next=/);
  await hydrated(page);
  await page.getByLabel("Code from your authenticator app").fill("000000" === totp(secret) ? "111111" : "000000");
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.locator("p.error")).toHaveText("wrong or already used code");
  await page.getByLabel("Code from your authenticator app").fill(totp(secret, 1));
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("me-email")).toHaveText(email);
  const claims = jwsPart((await storedSession(page)).access_token, 1);
  expect(claims.amr).toEqual(["pwd", "otp", "mfa"]);
  expect(claims.acr).toBe("2");
  expect(Math.abs(claims.auth_time - Date.now() / 1000)).toBeLessThan(30);

  // A recovery code instead, once, signing in from /flow: the second step comes back to it,
  // and the timeline has it.
  await logOut(page);
  await page.goto("/flow");
  await hydrated(page);
  await submitCredentials(page, "Log in", email);
  await expect(page).toHaveURL(/\/second-factor\?next=\/flow$/);
  await hydrated(page);
  await page.getByRole("button", { name: "Use a recovery code" }).click();
  await page.getByLabel("Recovery code").fill(recovery);
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page).toHaveURL(/\/flow$/);
  const step = page.locator('li[data-step="second-factor"]');
  await expect(step).toHaveAttribute("data-outcome", "done");
  await expect(step).toContainText("accepted: the session opens");
  await page.goto("/account");
  await expect(page.getByTestId("factor-summary")).toHaveText("Authenticator app: on (9 recovery codes left).");
  expect(problems).toEqual([]);
});

test("a passkey made by Chromium's virtual authenticator registers on /account and signs in alone", async ({ page, baseURL }) => {
  const problems = watchConsole(page);
  // Browsers take no IP address as a relying party: the loopback issuer's passkeys live at localhost.
  const origin = (baseURL ?? "").replace("127.0.0.1", "localhost");
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  const email = uniqueEmail("passkey");
  await page.goto(`${origin}/signup`);
  await hydrated(page);
  await submitCredentials(page, "Sign up", email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto(`${origin}/account`);
  await hydrated(page);
  await page.getByLabel("Name").fill("Virtual key");
  await page.getByTestId("passkey-add").click();
  await expect(page.getByTestId("factors-notice")).toHaveText("Passkey \u201cVirtual key\u201d added.");
  await expect(page.getByTestId("passkeys")).toContainText("Virtual key");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential).toBe(true);
  expect(credentials[0].rpId).toBe("localhost");

  // Signed out, no email typed: the passkey alone.
  await logOut(page);
  await page.getByRole("link", { name: "Sign in with a passkey" }).click();
  await expect(page).toHaveURL(/\/second-factor$/);
  await hydrated(page);
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("me-email")).toHaveText(email);
  const claims = jwsPart((await storedSession(page)).access_token, 1);
  expect(claims.amr).toEqual(["hwk", "mfa"]);
  const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  expect(after.credentials[0].signCount).toBeGreaterThan(credentials[0].signCount);

  // And as the second factor after the password.
  await logOut(page);
  await submitCredentials(page, "Log in", email);
  await expect(page).toHaveURL(/\/second-factor\?next=/);
  await hydrated(page);
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("me-email")).toHaveText(email);
  expect(jwsPart((await storedSession(page)).access_token, 1).amr).toEqual(["pwd", "hwk", "mfa"]);
  expect(problems).toEqual([]);
});

test("a passkey ceremony on an IP-address origin is refused by the browser and said so", async ({ page }) => {
  const email = uniqueEmail("ip");
  await signUpInBrowser(page, email);
  await page.goto("/account");
  await hydrated(page);
  await expect(page.getByTestId("factors")).toContainText(`Passkeys work at ${new URL(page.url()).origin.replace("127.0.0.1", "localhost")}.`);
  await page.getByTestId("passkey-add").click();
  await expect(page.getByTestId("factors-notice")).toContainText("No passkey was made");
});
