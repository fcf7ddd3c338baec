// What the browser tests run against: the real `switchboard` binary (built by cargo) on
// 127.0.0.1, port 0, in a throw-away data dir with one project, its agents being the test
// kit's fixture CLIs (cursor, nano) and the real claude CLI talking to the scripted model API
// (for permission prompts). Every process started here is ended by `stop()`, and by the
// process exit handler if a test run dies halfway.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
const BIN = join(TARGET, 'debug');
export const ARTIFACTS = join(TARGET, 'browser-artifacts');
const CLAUDE = join(ROOT, 'tools/agent-clis/node_modules/.bin/claude');

const children = new Set();
const killChildren = () => {
  for (const child of children) child.kill('SIGKILL');
};
process.on('exit', killChildren);
// `timeout` (scripts/test-browser.sh) or Ctrl-C: Node would exit without 'exit' handlers.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

function binary(name) {
  const path = join(BIN, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run cargo build -p switchboard-server -p switchboard-testkit --bins`);
  }
  return path;
}

function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Resolves with the first stdout line that `pick` maps to a value, or rejects after `ms`. */
function waitForLine(child, pick, what, ms = 30_000) {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const value = pick(line);
      if (value !== undefined) {
        clearTimeout(timer);
        resolvePromise(value);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: the process exited (${code}) first`));
    });
  });
}

async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts the scripted model API, the server, and Chromium. */
export async function startRig() {
  const scratch = mkdtempSync(join(tmpdir(), 'switchboard-browser-'));
  // The claude CLI gets a private HOME (no user settings, no network but loopback).
  const home = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'switchboard-browser-home-'));
  mkdirSync(join(home, 'tmp'), { recursive: true });
  // The scripted model's `[tool]` asks for `echo`, which claude would run without asking:
  // this user setting makes claude ask before every shell command.
  mkdirSync(join(home, '.claude'), { recursive: true });
  writeFileSync(join(home, '.claude/settings.json'), JSON.stringify({ permissions: { ask: ['Bash'] } }));
  const project = join(scratch, 'demo-project');
  mkdirSync(project);
  const dataDir = join(scratch, 'data');

  const portFile = join(scratch, 'model-port');
  const model = track(spawn(binary('scripted-model-server'), ['--port-file', portFile], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const modelUrl = await waitForLine(model, (l) => l.match(/scripted model server on (\S+)/)?.[1], 'the scripted model server');

  const token = `browser-test-${randomBytes(16).toString('hex')}`;
  const env = {
    ...process.env,
    SWITCHBOARD_TOKEN: token,
    SWITCHBOARD_LOG: 'warn',
    SWITCHBOARD_CURSOR_BIN: binary('fake-cursor-agent'),
    SWITCHBOARD_NANO_BIN: binary('fake-nano-claude-code'),
    SWITCHBOARD_NANO_SESSIONS_DIR: join(scratch, 'nano-sessions'),
    HOME: home,
    TMPDIR: join(home, 'tmp'),
    CLAUDE_CODE_TMPDIR: join(home, 'tmp'),
    ANTHROPIC_BASE_URL: modelUrl,
    ANTHROPIC_API_KEY: 'sk-ant-fake',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
  };
  if (existsSync(CLAUDE)) env.SWITCHBOARD_CLAUDE_BIN = CLAUDE;
  const server = track(spawn(
    binary('switchboard'),
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--project', project],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  ));
  const addr = await waitForLine(server, (l) => l.match(/^Switchboard listening on http:\/\/(\S+)/)?.[1], 'the server address');

  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.SWITCHBOARD_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60_000,
    // Playwright gives every launch a fresh --user-data-dir of its own.
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });

  return {
    base: `http://${addr}`,
    token,
    project,
    scratch,
    home,
    browser,
    hasClaude: existsSync(CLAUDE),
    async stop() {
      await browser.close().catch(() => {});
      await stopChild(server);
      await stopChild(model);
      rmSync(scratch, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A new browser context (its own cookies), already logged in through the login URL. */
export async function loggedInPage(rig, options = {}) {
  const context = await rig.browser.newContext(options);
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  await page.goto(`${rig.base}/#token=${rig.token}`);
  // Attached, not necessarily visible: on a phone the sidebar is a closed drawer.
  await page.locator('.sidebar .project').first().waitFor({ state: 'attached' });
  return { context, page };
}

/** Saves a screenshot under target/browser-artifacts (and, when asked, for the README). */
export async function screenshot(page, name, { readme = false } = {}) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  if (readme && process.env.SWITCHBOARD_README_SCREENSHOTS === '1') {
    const docs = join(ROOT, 'docs/screenshots');
    mkdirSync(docs, { recursive: true });
    copyFileSync(path, join(docs, `${name}.png`));
  }
  return path;
}

/** Starts a new session from the sidebar: provider, mode, prompt. Resolves with its id. */
export async function startSession(page, { provider, mode, prompt }) {
  await page.locator('.sidebar .new-session').first().click();
  await page.getByLabel('Provider').selectOption(provider);
  if (mode) await page.getByLabel('Permission mode').selectOption(mode);
  await page.getByLabel('Message').fill(prompt);
  await page.getByLabel('Message').press('Enter');
  await page.waitForURL(/\/session\/[0-9a-f-]{36}$/);
  return page.url().split('/').pop();
}

