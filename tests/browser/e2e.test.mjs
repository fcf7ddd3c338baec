// The web app end to end, in Debian's headless Chromium, against the real server and fixture
// agents. Each test leaves screenshots in target/browser-artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRig, loggedInPage, screenshot, startSession } from './harness.mjs';

let rig;
before(async () => {
  rig = await startRig();
});
after(async () => {
  await rig?.stop();
});

/** How often `needle` occurs in `haystack`. */
function occurrences(haystack, needle) {
  return haystack.split(needle).length - 1;
}

async function assistantText(page) {
  return (await page.locator('.msg.assistant').allInnerTexts()).join('\n');
}

async function expectState(page, state) {
  await page.locator(`.session-header .badge.state-${state}`).waitFor();
}

test('login: a wrong token is refused, the right one opens the app, the login URL works', async () => {
  const context = await rig.browser.newContext();
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  await page.goto(rig.base);
  await page.getByLabel('Access token').fill('not-the-token');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText('That token is not right.').waitFor();
  await screenshot(page, 'login-refused');
  await page.getByLabel('Access token').fill(rig.token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.sidebar .project').first().waitFor();
  assert.match(await page.locator('.sidebar .project-toggle').first().innerText(), /demo-project/);
  await page.locator('.connection.conn-online').waitFor();
  await screenshot(page, 'login-done');

  // The printed login URL: the token is exchanged for the cookie and leaves the address bar.
  const fresh = await rig.browser.newContext();
  const second = await fresh.newPage();
  await second.goto(`${rig.base}/#token=${rig.token}`);
  await second.locator('.sidebar .project').first().waitFor();
  assert.ok(!second.url().includes(rig.token), `the token stayed in ${second.url()}`);
  await fresh.close();
  await context.close();
});

test('a session streams text and shows a tool call, and the sidebar badge follows', async () => {
  const { context, page } = await loggedInPage(rig);
  const id = await startSession(page, { provider: 'cursor', prompt: 'lines=4 bytes=40 delay_ms=500 partial tool' });
  await page.locator('.msg.assistant', { hasText: 'line 1 ' }).waitFor();
  await expectState(page, 'running');
  const link = page.locator(`.sidebar a[data-session-id="${id}"]`);
  await link.locator('.badge.state-running').waitFor();
  await screenshot(page, 'streaming');
  await expectState(page, 'completed');
  const text = await assistantText(page);
  for (let n = 1; n <= 4; n++) assert.equal(occurrences(text, `line ${n} `), 1, `line ${n} in ${text}`);
  const tool = page.locator('details.tool').first();
  assert.equal(await tool.locator('.tool-name').innerText(), 'shell');
  await tool.locator('.tool-status.ok').waitFor();
  await tool.locator('summary').click();
  await tool.locator('.tool-output').waitFor();
  await link.locator('.badge.state-completed').waitFor();
  // The prompt typed here is on screen once (the agent's own echo of it is not repeated).
  assert.equal(await page.locator('.msg.user').count(), 1);
  await screenshot(page, 'tool-call', { readme: true });
  await context.close();
});

test('adding a project shows the suggestions, and a suggestion can be added', async () => {
  // A directory where Claude Code has a conversation (in its own store), not registered yet.
  const elsewhere = join(rig.scratch, 'side-project');
  mkdirSync(elsewhere);
  const slug = elsewhere.replace(/[^A-Za-z0-9]/g, '-');
  const store = join(rig.home, '.claude/projects', slug);
  mkdirSync(store, { recursive: true });
  const nativeId = '5f1c2a8e-3b4d-4e6f-8a9b-0c1d2e3f4a5b';
  writeFileSync(join(store, `${nativeId}.jsonl`), `${JSON.stringify({
    type: 'user', cwd: elsewhere, sessionId: nativeId, timestamp: new Date().toISOString(),
    message: { role: 'user', content: 'explain the side project' },
  })}\n`);

  const { context, page } = await loggedInPage(rig);
  await page.getByRole('button', { name: '+ Add project' }).click();
  const dialog = page.getByRole('dialog');
  const suggestion = dialog.locator('.suggestions li', { hasText: 'side-project' });
  await suggestion.waitFor();
  assert.match(await suggestion.innerText(), /claude/);
  await screenshot(page, 'add-project-suggestions');
  await suggestion.getByRole('button', { name: 'Add' }).click();
  await page.waitForURL(/\/new\/[0-9a-f-]{36}$/);
  const added = page.locator('.sidebar .project', { hasText: 'side-project' });
  await added.waitFor();
  // Its conversation from Claude Code's store is listed, ready to be continued.
  await added.locator('.session-link', { hasText: 'explain the side project' }).waitFor();
  await context.close();
});

test('a failed run is shown as an error', async () => {
  const { context, page } = await loggedInPage(rig);
  await startSession(page, { provider: 'cursor', prompt: 'lines=1 stderr=disk_is_on_fire exit=3' });
  await expectState(page, 'failed');
  const error = page.locator('.note.error', { hasText: 'disk is on fire' }).first();
  await error.waitFor();
  assert.equal(await error.getAttribute('role'), 'alert');
  assert.equal(await page.locator('.note.error', { hasText: 'disk is on fire' }).count(), 1);
  await screenshot(page, 'failed-run');
  await context.close();
});

test('markdown is rendered and sanitized', async () => {
  const { context, page } = await loggedInPage(rig);
  const html = await page.evaluate(async () => {
    const { renderMarkdown } = await import('/markdown.js');
    const el = document.createElement('div');
    renderMarkdown(el, '# Title\n\n**bold** `code`\n\n<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>[x](javascript:alert(1))');
    document.body.append(el);
    await new Promise((r) => setTimeout(r, 100));
    return { html: el.innerHTML, pwned: window.pwned ?? null };
  });
  assert.match(html.html, /<h1[^>]*>Title<\/h1>/);
  assert.match(html.html, /<strong>bold<\/strong>/);
  assert.doesNotMatch(html.html, /onerror|<script|javascript:/);
  assert.equal(html.pwned, null);
  await context.close();
});

test('a permission prompt is answered with Allow and the tool runs', async (t) => {
  if (!rig.hasClaude) {
    assert.fail('the claude CLI is missing: run scripts/install-agent-clis.sh (scripts/test.sh does)');
  }
  const { context, page } = await loggedInPage(rig);
  await startSession(page, { provider: 'claude', mode: 'default', prompt: '[tool] please run the command' });
  const prompt = page.locator('.permission');
  await prompt.waitFor({ timeout: 60_000 });
  assert.match(await prompt.innerText(), /Bash/);
  await screenshot(page, 'permission-prompt', { readme: true });
  await prompt.getByRole('button', { name: 'Allow', exact: true }).click();
  await prompt.getByText('Allowed').waitFor();
  await expectState(page, 'completed');
  await page.locator('details.tool .tool-status.ok').first().waitFor();
  await screenshot(page, 'permission-answered');
  await context.close();
});

test('Stop ends a running session, and a follow-up typed while busy is queued then sent', async () => {
  const { context, page } = await loggedInPage(rig);
  await startSession(page, { provider: 'cursor', prompt: 'hang' });
  await expectState(page, 'running');
  // Typed while the run is live: it waits, visibly.
  await page.getByLabel('Message').fill('lines=2 bytes=30 the follow-up');
  await page.getByLabel('Message').press('Enter');
  await page.locator('.queue .queued', { hasText: 'the follow-up' }).waitFor();
  await screenshot(page, 'queued-follow-up');
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.locator('.note', { hasText: 'Stopped.' }).first().waitFor();
  // The aborted run ended, so the queued follow-up went out and ran.
  await page.locator('.msg.assistant', { hasText: 'line 2 ' }).waitFor();
  await expectState(page, 'completed');
  assert.equal(await page.locator('.queue .queued').count(), 0);
  assert.equal(await page.locator('.msg.user').count(), 2);
  await screenshot(page, 'stopped-then-follow-up');
  await context.close();
});

test('offline mid-run and back: the whole answer, exactly once, also after a reload', async () => {
  const { context, page } = await loggedInPage(rig);
  const lines = 30;
  await startSession(page, { provider: 'cursor', prompt: `lines=${lines} bytes=30 delay_ms=120 partial` });
  await page.locator('.msg.assistant', { hasText: 'line 3 ' }).waitFor();
  await context.setOffline(true);
  await page.evaluate(() => window.switchboard.connection.drop());
  await page.locator('.connection.conn-offline, .connection.conn-reconnecting').first().waitFor();
  const seenBefore = await assistantText(page);
  assert.ok(!seenBefore.includes(`line ${lines} `), 'the run should still be going when the page drops');
  await screenshot(page, 'offline');
  await page.waitForTimeout(1500); // the agent keeps writing while this page is away
  await context.setOffline(false);
  await page.locator('.connection.conn-online').waitFor();
  await expectState(page, 'completed');
  const check = async (when) => {
    const text = await assistantText(page);
    for (let n = 1; n <= lines; n++) {
      assert.equal(occurrences(text, `line ${n} `), 1, `${when}: line ${n} should appear exactly once`);
    }
  };
  await check('after the reconnect');
  await screenshot(page, 'reconnected');
  await page.reload();
  await expectState(page, 'completed');
  await page.locator('.msg.assistant', { hasText: `line ${lines} ` }).waitFor();
  await check('after a reload');
  await context.close();
});

test('two tabs on one session both stay live', async () => {
  const { context, page: first } = await loggedInPage(rig);
  const id = await startSession(first, { provider: 'cursor', prompt: 'lines=16 bytes=30 delay_ms=300 partial' });
  const second = await context.newPage();
  await second.goto(`${rig.base}/session/${id}`);
  await second.locator('.msg.assistant', { hasText: 'line 1 ' }).waitFor();
  await expectState(second, 'running');
  await expectState(first, 'completed');
  await expectState(second, 'completed');
  for (const page of [first, second]) {
    const text = await assistantText(page);
    for (let n = 1; n <= 16; n++) assert.equal(occurrences(text, `line ${n} `), 1);
  }
  // A turn started in the second tab streams into the first.
  await second.getByLabel('Message').fill('lines=2 bytes=30 from the second tab');
  await second.getByLabel('Message').press('Enter');
  await first.locator('.msg.user', { hasText: 'from the second tab' }).waitFor();
  await first.locator('.log .note', { hasText: 'Done.' }).nth(1).waitFor();
  assert.equal(occurrences(await assistantText(first), 'line 2 '), 2);
  await screenshot(first, 'two-tabs-first');
  await screenshot(second, 'two-tabs-second');
  await context.close();
});

test('phone-sized viewport: drawer sidebar, chat fits the width', async () => {
  const { context, page } = await loggedInPage(rig, {
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true,
  });
  const menu = page.getByRole('button', { name: 'Projects' });
  await menu.waitFor();
  assert.equal(await page.locator('.sidebar').isVisible(), false);
  await menu.click();
  await page.locator('.sidebar').waitFor({ state: 'visible' });
  // The drawer slides in; wait until it is all the way in.
  await page.waitForFunction(() => getComputedStyle(document.querySelector('.sidebar')).transform === 'none');
  await screenshot(page, 'phone-sidebar');
  await startSession(page, { provider: 'cursor', prompt: 'lines=3 bytes=60 delay_ms=50 tool' });
  await expectState(page, 'completed');
  assert.equal(await page.locator('.sidebar').isVisible(), false);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await page.getByLabel('Message').waitFor();
  await screenshot(page, 'phone-chat', { readme: true });
  await context.close();
});
