// Open Airflow's "Add Connection" form for one connection type in headless Chromium, report what the
// form shows as JSON on stdout, and save a screenshot of the dialog. Run by tests/e2e/test_connection_form.py.
//
// Input (environment): AIRFLOW_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD, CONN_TYPE_LABEL (e.g. "Ace Data Cloud"),
// SCREENSHOT (png path), CHROMIUM (default /usr/bin/chromium), SAMPLE_TOKEN (typed into the password field).
// Uses the system Chromium through playwright-core: no browser download, a fresh empty profile every run.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const url = env("AIRFLOW_URL").replace(/\/$/, "");
const typeLabel = env("CONN_TYPE_LABEL");
const screenshot = env("SCREENSHOT");
// Flags for a closed network: no background requests, no updates, no sync, no QUIC.
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "acedata-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: ARGS,
  viewport: { width: 1280, height: 1100 },
});
context.setDefaultTimeout(30_000);
try {
  const page = context.pages()[0] ?? (await context.newPage());

  // Log in (SimpleAuthManager's login page).
  await page.goto(`${url}/`);
  await page.getByLabel("Username").fill(env("AIRFLOW_USERNAME"));
  await page.getByLabel("Password").fill(env("AIRFLOW_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/auth/"));

  // Admin -> Connections -> Add Connection, then pick the connection type.
  await page.getByRole("button", { name: "Admin" }).click();
  await page.getByRole("menuitem", { name: "Connections" }).click();
  await page.waitForURL((u) => u.pathname.endsWith("/connections"));
  await page.getByRole("button", { name: "Add Connection" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("combobox", { name: "Connection Type" }).fill(typeLabel);
  await page.getByRole("option", { name: typeLabel, exact: true }).click();
  await dialog.getByLabel("Connection ID").fill("acedata_default");

  // What the standard fields look like for this type.
  const field = async (name) => {
    const input = dialog.locator(`input[name="${name}"]`);
    if ((await input.count()) === 0 || !(await input.first().isVisible())) return null;
    return input.first().evaluate((el) => ({
      type: el.type,
      placeholder: el.placeholder,
      label: el.labels?.[0]?.textContent?.trim() ?? null,
    }));
  };
  await dialog.locator('input[name="password"]').fill(env("SAMPLE_TOKEN", "platform-v1-not-a-real-token"));
  const facts = { selectedType: (await dialog.getByText(typeLabel, { exact: true }).count()) > 0, fields: {} };
  for (const name of ["host", "password", "login", "schema", "port"]) facts.fields[name] = await field(name);

  // The screenshot shows the standard fields (with the token typed in, masked).
  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await dialog.screenshot({ path: screenshot, animations: "disabled" });

  // The provider's extra fields (conn-fields), shown once their section is opened.
  await dialog.getByRole("button", { name: "Extra Fields", exact: true }).click();
  await dialog.getByLabel("Timeout (seconds)").waitFor();
  facts.extraLabels = await dialog
    .locator("label")
    .evaluateAll((labels) => labels.map((l) => l.textContent.trim()).filter(Boolean));

  console.log(JSON.stringify(facts));
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
