// Drives Debian's Chromium through playwright-core on the login-ui page: the OAuth2 client's
// authorization URL → Hydra → the login page (a wrong password first: an error and no
// redirect; then the right one) → the TOTP step when TOTP_CODE is set → the consent page
// when EXPECT_CONSENT=1 → the client's redirect URI (served by the test), printed as one JSON
// line: {"callback": URL}.
//
// Environment: AUTH_URL, CALLBACK_PREFIX, USERNAME, PASSWORD, WRONG_PASSWORD, TOTP_CODE
// (optional), EXPECT_CONSENT (0/1), CHECK_REPLAY (0/1: the used login page shows an error
// afterwards), REMEMBER (0/1: tick "remember" on the login and consent pages), LOGOUT (0/1,
// below), CHROMIUM (default /usr/bin/chromium).
//
// With LOGOUT=1, after the callback line the script reads one JSON line from stdin:
// {"again_url", "logout_url", "logged_out_prefix", "after_url"}. It visits again_url (a
// remembered login: the callback without the form), then logout_url (RP-initiated logout:
// Hydra → the page's logout step → the IAM API), waits for logged_out_prefix, visits
// after_url and waits for the login form (Hydra's session ended), and prints
// {"again": URL, "form_again": true}.
import { chromium } from "playwright-core";
import readline from "node:readline";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const TIMEOUT = 20_000;

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const callbackPrefix = env("CALLBACK_PREFIX");

  await page.goto(env("AUTH_URL"));
  await page.waitForSelector("#login-form.shown");
  const loginPage = page.url();

  const wrong = process.env.WRONG_PASSWORD;
  if (wrong) {
    const at = page.url();
    await page.fill("#username", env("USERNAME"));
    await page.fill("#password", wrong);
    await page.click("#sign-in");
    // (a selector, not page.waitForFunction: the page's CSP forbids eval)
    await page.waitForSelector('#error:has-text("Wrong username")');
    if (page.url() !== at) throw new Error(`a wrong password navigated to ${page.url()}`);
  }

  await page.fill("#username", env("USERNAME"));
  await page.fill("#password", env("PASSWORD"));
  const remember = env("REMEMBER", "0") === "1";
  if (remember) await page.check("#remember");
  await page.click("#sign-in");

  if (process.env.TOTP_CODE) {
    await page.waitForSelector("#mfa-form.shown");
    await page.fill("#code", process.env.TOTP_CODE);
    await page.click("#verify");
  }
  if (env("EXPECT_CONSENT", "0") === "1") {
    await page.waitForSelector("#consent.shown");
    if (remember) await page.check("#remember-consent");
    await page.click("#allow");
  }
  // (Playwright's routes do not see the redirects of a navigation: the callback is served
  // by the test for real.)
  try {
    await page.waitForURL((url) => url.href.startsWith(callbackPrefix));
  } catch (e) {
    throw new Error(`never reached ${callbackPrefix}; at ${page.url()}: ${e.message}`);
  }
  const callback = page.url();

  if (env("CHECK_REPLAY", "0") === "1") {
    // The used login challenge again (back button, a bookmarked link): an error, no form.
    await page.goto(loginPage);
    await page.waitForSelector('#error:has-text("already used")');
    if (await page.isVisible("#login-form")) throw new Error("a used challenge shows the form");
  }
  console.log(JSON.stringify({ callback }));

  if (env("LOGOUT", "0") === "1") {
    const lines = readline.createInterface({ input: process.stdin });
    const next = JSON.parse(await new Promise((resolve) => lines.once("line", resolve)));
    lines.close();
    // Remembered login and consent: straight back to the client, no form.
    await page.goto(next.again_url);
    try {
      await page.waitForURL((url) => url.href.startsWith(callbackPrefix) && url.href !== callback);
    } catch (e) {
      throw new Error(`a remembered login did not come back; at ${page.url()}: ${e.message}`);
    }
    const again = page.url();
    // RP-initiated logout: Hydra → the page's logout step → the IAM API → the client.
    await page.goto(next.logout_url);
    await page.waitForSelector("#logout.shown");
    await page.click("#sign-out");
    try {
      await page.waitForURL((url) => url.href.startsWith(next.logged_out_prefix));
    } catch (e) {
      throw new Error(`logout never reached ${next.logged_out_prefix}; at ${page.url()}: ${e.message}`);
    }
    // Hydra's session is over: a new authorization asks for the password again.
    await page.goto(next.after_url);
    await page.waitForSelector("#login-form.shown");
    console.log(JSON.stringify({ again, form_again: true }));
  }
} finally {
  await browser.close();
}
