// The pieces a chat log is made of: message bubbles, thinking, tool calls with their results,
// diffs, permission prompts and notices. Each returns a DOM node (and, where the piece changes
// later, a small handle to change it).

import { h, asText } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { editsOf, lineDiff, parseUnifiedDiff, isUnifiedDiff } from './diff.js';

const MAX_OUTPUT_CHARS = 20_000;

export function userBubble(text, { pending = false } = {}) {
  return h('div', { class: `msg user${pending ? ' pending' : ''}` }, h('div', { class: 'body' }, text));
}

/** Assistant text, re-rendered as markdown as deltas arrive. */
export class AssistantText {
  constructor() {
    this.text = '';
    this.body = h('div', { class: 'body markdown' });
    this.el = h('div', { class: 'msg assistant' }, this.body);
    this.dirty = false;
  }

  append(text) {
    this.text += text;
    this.dirty = true;
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    renderMarkdown(this.body, this.text);
  }
}

/** Reasoning, collapsed unless opened. */
export class Thinking {
  constructor() {
    this.text = '';
    this.body = h('div', { class: 'thinking-body' });
    this.el = h('details', { class: 'thinking' }, h('summary', {}, 'Thinking'), this.body);
  }

  append(text) {
    this.text += text;
    this.body.textContent = this.text;
  }
}

/** A tool call: name and a one-line summary of its input; input, diff and result inside. */
export class ToolCall {
  constructor(id, name, input) {
    this.id = id;
    this.name = name || 'tool';
    this.status = h('span', { class: 'tool-status running', title: 'running' }, 'running');
    const edits = editsOf(this.name, input);
    this.el = h(
      'details',
      { class: 'tool', dataset: { toolId: id || '' }, open: edits.length > 0 },
      h(
        'summary',
        {},
        h('span', { class: 'tool-name' }, this.name),
        h('span', { class: 'tool-summary' }, summarize(input)),
        this.status,
      ),
      edits.length ? edits.map(diffView) : h('pre', { class: 'tool-input' }, asText(input)),
    );
  }

  finish(output, isError) {
    this.status.textContent = isError ? 'error' : 'done';
    this.status.className = `tool-status ${isError ? 'error' : 'ok'}`;
    this.status.title = this.status.textContent;
    const text = truncate(asText(output));
    const result = isUnifiedDiff(text)
      ? diffView({ path: '', diff: text })
      : h('pre', { class: `tool-output${isError ? ' error' : ''}` }, text || '(no output)');
    this.el.append(h('div', { class: 'tool-result-label' }, isError ? 'Error' : 'Result'), result);
  }
}

function summarize(input) {
  if (input === null || input === undefined) return '';
  if (typeof input !== 'object') return truncate(String(input), 120);
  const key = ['command', 'cmd', 'file_path', 'path', 'pattern', 'query', 'url', 'description'].find(
    (k) => typeof input[k] === 'string',
  );
  return truncate(key ? input[key] : JSON.stringify(input), 120);
}

function truncate(text, max = MAX_OUTPUT_CHARS) {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** One file's change as +/- lines. */
export function diffView(edit) {
  const lines = edit.diff !== undefined ? parseUnifiedDiff(edit.diff) : lineDiff(edit.before, edit.after);
  return h(
    'div',
    { class: 'diff' },
    edit.path ? h('div', { class: 'diff-path' }, edit.path) : null,
    h(
      'pre',
      {},
      lines.map(({ op, line }) =>
        h(
          'span',
          { class: op === '+' ? 'add' : op === '-' ? 'del' : op === '@' ? 'hunk' : 'ctx' },
          `${op === '@' ? '' : op} ${line}\n`,
        ),
      ),
    ),
  );
}

/** A permission prompt with Allow, Deny and Always allow. */
export class PermissionPrompt {
  constructor(frame, answer) {
    this.requestId = frame.requestId;
    this.toolName = frame.toolName;
    this.open = true;
    const edits = editsOf(frame.toolName, frame.input);
    this.buttons = [
      h('button', { class: 'allow', onclick: () => this.decide(answer, { allow: true }) }, 'Allow'),
      h('button', { class: 'deny', onclick: () => this.decide(answer, { allow: false }) }, 'Deny'),
      h(
        'button',
        { class: 'always', onclick: () => this.decide(answer, { allow: true, remember: true }) },
        `Always allow ${frame.toolName || ''}`.trim(),
      ),
    ];
    this.outcome = h('span', { class: 'permission-outcome' });
    this.el = h(
      'div',
      { class: 'permission', role: 'group', 'aria-label': `Permission for ${frame.toolName}` },
      h('div', { class: 'permission-title' }, 'Allow ', h('strong', {}, frame.toolName || 'a tool'), '?'),
      edits.length ? edits.map(diffView) : h('pre', { class: 'tool-input' }, asText(frame.input)),
      h('div', { class: 'permission-actions' }, this.buttons, this.outcome),
    );
  }

  decide(answer, decision) {
    if (!this.open) return;
    answer(this.requestId, decision);
    this.close(decision.allow ? (decision.remember ? 'Always allowed' : 'Allowed') : 'Denied');
  }

  /** No more answers: answered here or elsewhere, cancelled, or the run ended. */
  close(outcome) {
    if (!this.open) return;
    this.open = false;
    for (const button of this.buttons) button.disabled = true;
    this.outcome.textContent = outcome;
    this.el.classList.add('closed');
  }
}

/** A notice, an error, or a run marker. */
export function note(text, kind = 'info') {
  return h('div', { class: `note ${kind}`, role: kind === 'error' ? 'alert' : null }, text);
}
