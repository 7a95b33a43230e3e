// A new user's hands in the real Airflow UI (headless Chromium), driven by tests/e2e/test_ui_path.py.
//
// Logs in once, then reads one JSON command per line on stdin and answers one JSON line on stdout:
//   {"step": "add_connection", "conn_id", "type_label", "host", "login"?, "password", "shot"}
//   {"step": "edit_connection", "conn_id", "password"?, "rotation_variable"?, "shot"}
//   {"step": "trigger", "dag_id", "params": {name: value}, "unpause": bool, "shot"}
//   {"step": "read", "path", "wait_text"?, "shot"}  -> {"text", "links"}
// Every answer is {"ok": true, ...} or {"ok": false, "error"}. Each step saves "<NN>-<shot>.png" in
// SCREENSHOT_DIR. Input (environment): AIRFLOW_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD, CHROMIUM, SCREENSHOT_DIR.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const url = env("AIRFLOW_URL").replace(/\/$/, "");
const shots = env("SCREENSHOT_DIR");
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
  viewport: { width: 1400, height: 1000 },
});
context.setDefaultTimeout(30_000);
const page = context.pages()[0] ?? (await context.newPage());
let count = 0;
const shot = async (name) => {
  fs.mkdirSync(shots, { recursive: true });
  count += 1;
  const file = `${String(count).padStart(2, "0")}-${name}.png`;
  await page.screenshot({ path: path.join(shots, file), animations: "disabled" });
  return file;
};

async function logIn() {
  await page.goto(`${url}/`);
  await page.getByLabel("Username").fill(env("AIRFLOW_USERNAME"));
  await page.getByLabel("Password").fill(env("AIRFLOW_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/auth/"));
}

async function openConnections() {
  await page.getByRole("button", { name: "Admin" }).click();
  await page.getByRole("menuitem", { name: "Connections" }).click();
  await page.waitForURL((u) => u.pathname.endsWith("/connections"));
}

async function addConnection(step) {
  await openConnections();
  await page.getByRole("button", { name: "Add Connection" }).click();
  const form = page.getByRole("dialog");
  await form.getByRole("combobox", { name: "Connection Type" }).fill(step.type_label);
  await page.getByRole("option", { name: step.type_label, exact: true }).click();
  await form.getByLabel("Connection ID").fill(step.conn_id);
  await form.locator('input[name="host"]').fill(step.host);
  if (step.login !== undefined) await form.locator('input[name="login"]').fill(step.login);
  await form.locator('input[name="password"]').fill(step.password);
  const file = await shot(step.shot);
  await form.getByRole("button", { name: "Save" }).click();
  await form.waitFor({ state: "hidden" });
  await page.getByText(step.conn_id, { exact: true }).first().waitFor();
  return { shots: [file, await shot(`${step.shot}-saved`)] };
}

async function editConnection(step) {
  await openConnections();
  const row = page.getByRole("row").filter({ has: page.getByText(step.conn_id, { exact: true }) });
  await row.getByRole("button", { name: "Edit Connection" }).click();
  const form = page.getByRole("dialog");
  await form.locator('input[name="password"]').waitFor();
  if (step.password !== undefined) await form.locator('input[name="password"]').fill(step.password);
  if (step.rotation_variable !== undefined) {
    await form.getByRole("button", { name: "Extra Fields", exact: true }).click();
    await form.locator('input[name="element_rotation_variable"]').fill(step.rotation_variable);
  }
  const file = await shot(step.shot);
  await form.getByRole("button", { name: "Save" }).click();
  await form.waitFor({ state: "hidden" });
  return { shots: [file] };
}

async function trigger(step) {
  await page.goto(`${url}/dags/${step.dag_id}`);
  await page.getByRole("button", { name: "Trigger" }).first().click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  for (const [name, value] of Object.entries(step.params ?? {})) {
    const field = dialog.locator(`input[name="element_${name}"]`);
    await field.fill(String(value));
  }
  const unpause = dialog.getByRole("checkbox", { name: `Unpause ${step.dag_id} on trigger` });
  if ((await unpause.count()) > 0 && (await unpause.isChecked()) !== step.unpause) {
    await dialog.getByText(`Unpause ${step.dag_id} on trigger`).click();
  }
  const file = await shot(step.shot);
  await dialog.getByRole("button", { name: "Trigger" }).last().click();
  await dialog.waitFor({ state: "hidden" });
  return { shots: [file] };
}

async function read(step) {
  await page.goto(`${url}${step.path}`);
  if (step.wait_text) await page.getByText(step.wait_text).first().waitFor();
  await page.waitForLoadState("networkidle");
  const file = await shot(step.shot);
  const text = await page.locator("body").innerText();
  const links = await page
    .locator("a[href]")
    .evaluateAll((anchors) => anchors.map((a) => ({ text: a.textContent.trim(), href: a.href })));
  return { text, links, shots: [file] };
}

const STEPS = { add_connection: addConnection, edit_connection: editConnection, trigger, read };

try {
  await logIn();
  console.log(JSON.stringify({ ok: true, ready: true }));
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const step = JSON.parse(line);
    try {
      const answer = await STEPS[step.step](step);
      console.log(JSON.stringify({ ok: true, ...answer }));
    } catch (error) {
      const file = await shot(`failed-${step.shot ?? step.step}`).catch(() => null);
      console.log(JSON.stringify({ ok: false, error: String(error?.stack ?? error), shots: [file] }));
    }
  }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
