// A new user's path in the real Airflow UI, in headless Chromium: add the acedata connection through the
// form, trigger a DAG from its page, or read a task instance's XCom tab. Run by tests/e2e/test_ui_path.py.
//
// Input (environment): STEP ("connect_and_trigger" or "read_task"), AIRFLOW_URL, AIRFLOW_USERNAME,
// AIRFLOW_PASSWORD, CHROMIUM, SCREENSHOT_DIR; for connect_and_trigger: CONN_ID, CONN_TYPE_LABEL,
// PLATFORM_URL, PLATFORM_TOKEN, DAG_ID; for read_task: DAG_ID, RUN_ID, TASK_ID.
// Prints one JSON line of what it saw.
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
const shot = async (name) => {
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, `${name}.png`), animations: "disabled" });
};

async function logIn() {
  await page.goto(`${url}/`);
  await page.getByLabel("Username").fill(env("AIRFLOW_USERNAME"));
  await page.getByLabel("Password").fill(env("AIRFLOW_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/auth/"));
}

async function connectAndTrigger() {
  await page.getByRole("button", { name: "Admin" }).click();
  await page.getByRole("menuitem", { name: "Connections" }).click();
  await page.waitForURL((u) => u.pathname.endsWith("/connections"));
  await page.getByRole("button", { name: "Add Connection" }).click();
  const form = page.getByRole("dialog");
  const typeLabel = env("CONN_TYPE_LABEL");
  await form.getByRole("combobox", { name: "Connection Type" }).fill(typeLabel);
  await page.getByRole("option", { name: typeLabel, exact: true }).click();
  await form.getByLabel("Connection ID").fill(env("CONN_ID"));
  await form.locator('input[name="host"]').fill(env("PLATFORM_URL"));
  await form.locator('input[name="password"]').fill(env("PLATFORM_TOKEN"));
  await shot("1-connection-form-filled");
  await form.getByRole("button", { name: "Save" }).click();
  await form.waitFor({ state: "hidden" });
  await page.getByText(env("CONN_ID"), { exact: true }).first().waitFor();
  await shot("2-connection-list");

  const dagId = env("DAG_ID");
  await page.goto(`${url}/dags/${dagId}`);
  await page.getByRole("button", { name: "Trigger" }).first().click();
  const trigger = page.getByRole("dialog");
  await trigger.waitFor();
  await shot("3-trigger-dialog");
  await trigger.getByRole("button", { name: "Trigger" }).last().click();
  await trigger.waitFor({ state: "hidden" });
  await shot("4-triggered");
  return { triggered: true };
}

async function readTask() {
  const [dagId, runId, taskId] = [env("DAG_ID"), env("RUN_ID"), env("TASK_ID")];
  const base = `${url}/dags/${dagId}/runs/${encodeURIComponent(runId)}/tasks/${taskId}`;
  await page.goto(`${base}/xcom`);
  await page.getByText("return_value").first().waitFor();
  await page.waitForLoadState("networkidle");
  await shot("5-task-xcom");
  const text = await page.locator("body").innerText();
  const links = await page
    .locator("a[href]")
    .evaluateAll((anchors) => anchors.map((a) => ({ text: a.textContent.trim(), href: a.href })));
  return { text, links };
}

try {
  await logIn();
  const result = env("STEP") === "read_task" ? await readTask() : await connectAndTrigger();
  console.log(JSON.stringify(result));
} catch (error) {
  await shot("failure").catch(() => {});
  throw error;
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
