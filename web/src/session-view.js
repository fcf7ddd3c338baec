// One session's chat: built from its journaled frames (history from the REST API, then live
// frames from `subscribe`), deduplicated by `seq`, plus the controls (Stop, permission
// answers, a composer whose follow-ups queue while a run is live).

import { h, compactNumber } from './dom.js';
import * as api from './api.js';
import { AssistantText, Thinking, ToolCall, PermissionPrompt, userBubble, note } from './blocks.js';
import { rememberPrompt, recallPrompt, randomId } from './prompts.js';

export const PROVIDERS = ['claude', 'cursor', 'codex', 'gemini', 'nano'];
export const MODES = ['default', 'acceptEdits', 'plan', 'bypassPermissions'];
const TERMINAL = new Set(['completed', 'failed', 'aborted', 'interrupted']);
const RESPONSE = /^(claude|cursor|codex|gemini|openrouter|localgpu|nano)-(response|complete|error)$/;
const RENDER_EVERY_MS = 50;

/** Which permission modes a provider accepts (nano runs every tool, so only bypass). */
export function modesFor(provider) {
  return provider === 'nano' ? ['bypassPermissions'] : MODES;
}

export class SessionView {
  /**
   * `sessionId` null makes a draft: the first message creates the session in `project`.
   * `onCreated(view)` fires when the server accepted it and the id is known.
   */
  constructor({ sessionId, project, provider, model, permissionMode, resumeId, connection, onCreated }) {
    this.sessionId = sessionId;
    this.resumeId = resumeId || null; // a native id to continue (a draft that adopts it)
    this.project = project;
    this.provider = provider || 'claude';
    this.options = { model: model || '', permissionMode: permissionMode || modesFor(this.provider)[0] };
    this.connection = connection;
    this.onCreated = onCreated;
    this.lastSeq = 0;
    this.loaded = false;
    this.state = sessionId ? 'loading' : 'new';
    this.pending = null; // {clientRequestId, bubble} of a command not yet accepted
    this.queue = []; // follow-ups typed while busy
    this.tools = new Map();
    this.permissions = new Map();
    this.current = null; // the AssistantText or Thinking that deltas extend
    this.echoedRun = false; // this run's prompt is already on screen
    this.usage = { inputTokens: 0, outputTokens: 0, costUsd: 0, reports: 0 };
    this.dirty = new Set();
    this.renderTimer = null;
    this.build();
  }

  // ---- layout ------------------------------------------------------------------------------

  build() {
    this.title = h('h2', { class: 'session-title' }, this.sessionId ? 'Session' : 'New session');
    this.badge = h('span', { class: 'badge' }, '');
    this.meta = h('span', { class: 'session-meta' });
    this.budget = h('div', { class: 'budget', hidden: true },
      h('div', { class: 'budget-bar' }, (this.budgetFill = h('div', { class: 'budget-fill' }))),
      (this.budgetText = h('span', { class: 'budget-text' })));
    this.usageText = h('span', { class: 'usage', title: 'tokens in / out' });
    this.stopButton = h('button', { class: 'stop', hidden: true, onclick: () => this.stop(), title: 'Stop the run' }, 'Stop');
    this.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite' });
    this.queueList = h('ul', { class: 'queue', 'aria-label': 'Queued follow-ups' });
    this.input = h('textarea', {
      class: 'prompt', rows: 2, 'aria-label': 'Message',
      placeholder: 'Message the agent — Enter sends, Shift+Enter for a new line',
      onkeydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      },
    });
    this.sendButton = h('button', { class: 'send', onclick: () => this.submit() }, 'Send');
    this.el = h('section', { class: 'session', 'aria-label': 'Chat' },
      h('header', { class: 'session-header' },
        h('div', { class: 'session-heading' }, this.title, this.badge, this.meta),
        h('div', { class: 'session-gauges' }, this.usageText, this.budget, this.stopButton)),
      this.log,
      h('div', { class: 'composer' },
        this.queueList,
        this.optionsRow(),
        h('div', { class: 'composer-row' }, this.input, this.sendButton)));
    this.updateHeader();
  }

  /** Provider (drafts only), model and permission mode. */
  optionsRow() {
    const mode = h('select', { 'aria-label': 'Permission mode', onchange: (e) => (this.options.permissionMode = e.target.value) });
    const fillModes = () => {
      const modes = modesFor(this.provider);
      if (!modes.includes(this.options.permissionMode)) this.options.permissionMode = modes[0];
      mode.replaceChildren(...modes.map((m) => h('option', { value: m, selected: m === this.options.permissionMode }, m)));
    };
    fillModes();
    const model = h('input', {
      type: 'text', 'aria-label': 'Model', placeholder: 'model (CLI default)', value: this.options.model,
      spellcheck: 'false', autocomplete: 'off', oninput: (e) => (this.options.model = e.target.value.trim()),
    });
    const parts = [];
    if (!this.sessionId && !this.resumeId) {
      parts.push(this.providerLabel = h('label', {}, 'Provider ',
        h('select', {
          'aria-label': 'Provider', name: 'provider',
          onchange: (e) => { this.provider = e.target.value; fillModes(); this.updateHeader(); },
        }, PROVIDERS.map((p) => h('option', { value: p, selected: p === this.provider }, p)))));
    }
    parts.push(h('label', {}, 'Model ', model), h('label', {}, 'Mode ', mode));
    return h('div', { class: 'composer-options' }, parts);
  }

  updateHeader() {
    const state = this.state;
    this.badge.textContent = state === 'new' ? '' : state;
    this.badge.className = `badge state-${state}`;
    this.badge.hidden = state === 'new';
    const project = this.project ? this.project.displayName : '';
    this.meta.textContent = [this.provider, this.model, project].filter(Boolean).join(' · ');
    this.stopButton.hidden = state !== 'running';
    this.sendButton.textContent = this.busy ? 'Queue' : 'Send';
    const u = this.usage;
    this.usageText.textContent = u.reports
      ? `${compactNumber(u.inputTokens)} in · ${compactNumber(u.outputTokens)} out${u.costUsd ? ` · $${u.costUsd.toFixed(4)}` : ''}`
      : '';
  }

  get busy() {
    return this.state === 'running' || this.state === 'queued' || this.pending !== null;
  }

  // ---- loading and following -------------------------------------------------------------

  /** History from the REST API, then live frames from `subscribe` after the last seq seen. */
  async open() {
    if (!this.sessionId || this.loaded) return;
    try {
      const detail = await api.sessionDetail(this.sessionId);
      this.provider = detail.provider;
      this.model = detail.model || this.model;
      if (detail.title) {
        this.title.textContent = detail.title;
        this.named = true;
      }
      await api.replayEvents(this.sessionId, this.lastSeq, (frame) => this.apply(frame));
      this.loaded = true;
      this.subscribe();
    } catch (error) {
      if (error instanceof api.Unauthorized) throw error;
      this.append(note(`Could not load this session: ${error.message}`, 'error'));
    }
    this.flushRender();
  }

  /** (Re)attach: the server replays what came after `lastSeq`, then goes live. */
  subscribe() {
    // While offline there is nothing to send: the connection's `open` event resubscribes.
    if (this.sessionId && this.loaded && this.connection.status === 'online') {
      this.connection.send({ type: 'subscribe', sessionId: this.sessionId, lastSeq: this.lastSeq });
    }
  }

  /** Every frame for this session, journaled or not. Journaled ones are applied once. */
  apply(frame) {
    if (typeof frame.seq === 'number') {
      if (frame.seq <= this.lastSeq) return; // already shown: a replay overlapping what we have
      this.lastSeq = frame.seq;
    }
    const type = frame.type;
    const match = RESPONSE.exec(type);
    if (match) {
      if (match[2] === 'response') this.onEvent(frame.event || {}, frame.data);
      // `-complete`/`-error` come just before the terminal state, which says how it ended
      // (with the same error text), so they only close the current segment.
      else this.endSegment();
    } else if (type === 'session-accepted') this.onAccepted(frame);
    else if (type === 'session-queued') this.append(note(`Queued behind the running turn (position ${frame.position}).`, 'muted'));
    else if (type === 'session-created') this.onCreatedFrame(frame);
    else if (type === 'session-state-changed') this.onState(frame);
    else if (type === 'session-status') this.onStatus(frame);
    else if (type === 'session-aborted') {
      if (frame.outcome === 'aborted') this.append(note('Stopping…', 'muted'));
    } else if (type === 'token-budget') this.onBudget(frame.data || {});
    else if (type === 'claude-permission-request') this.onPermission(frame);
    else if (type === 'claude-permission-cancelled') {
      this.permissions.get(frame.requestId)?.close(frame.reason === 'timeout' ? 'Timed out' : 'Cancelled');
    } else if (type === 'session-busy') this.onBusy(frame);
    else if (type === 'error') this.onError(frame);
    this.scheduleRender();
  }

  onAccepted(frame) {
    this.endSegment();
    const ours = this.pending && frame.clientRequestId === this.pending.clientRequestId;
    if (ours) {
      this.pending.bubble.classList.remove('pending');
      this.pending = null;
    }
    // The journal keeps each run's prompt (`session-accepted.prompt`); older journals do
    // not, and then this browser's own record of what it sent stands in.
    const prompt = frame.prompt || recallPrompt(frame.clientRequestId);
    if (!ours && prompt) this.append(userBubble(prompt));
    this.echoedRun = ours || Boolean(prompt);
    this.setState('running');
  }

  onCreatedFrame(frame) {
    if (frame.model) this.model = frame.model;
    this.append(note(`Started in ${frame.cwd}${frame.model ? ` with ${frame.model}` : ''}.`, 'muted'));
  }

  onState(frame) {
    if (!TERMINAL.has(frame.state)) {
      this.setState(frame.state);
      return;
    }
    // The answer is complete on screen before the badge and the note say the run ended.
    this.endSegment();
    this.flushRender();
    this.setState(frame.state);
    for (const prompt of this.permissions.values()) prompt.close('Closed (the run ended)');
    for (const tool of this.tools.values()) if (tool.status.textContent === 'running') tool.status.textContent = 'ended';
    const label = { completed: 'Done.', aborted: 'Stopped.', failed: 'Failed', interrupted: 'Interrupted' }[frame.state];
    if (frame.state === 'failed' || frame.state === 'interrupted') {
      this.append(note(`${label}${frame.error ? `: ${frame.error}` : '.'}`, 'error'));
    } else {
      this.append(note(label, frame.state === 'aborted' ? 'warning' : 'muted'));
    }
    if (this.loaded || !this.sessionId) this.sendQueued();
  }

  onStatus(frame) {
    if (frame.state && frame.state !== this.state && !(frame.state === 'running' && this.pending)) {
      this.setState(frame.state);
    }
    for (const request of frame.pendingPermissions || []) this.onPermission(request);
  }

  onBudget(data) {
    if (!data.total) return;
    const ratio = Math.min(1, (data.used || 0) / data.total);
    this.budget.hidden = false;
    this.budgetFill.style.width = `${(ratio * 100).toFixed(1)}%`;
    this.budgetFill.classList.toggle('high', ratio > 0.8);
    this.budgetText.textContent = `${compactNumber(data.used)} / ${compactNumber(data.total)} tokens`;
    this.budget.title = `Context window: ${Math.round(ratio * 100)}% used`;
  }

  onPermission(frame) {
    if (this.permissions.has(frame.requestId)) return;
    this.endSegment();
    const prompt = new PermissionPrompt(frame, (requestId, decision) => this.answer(requestId, decision));
    this.permissions.set(frame.requestId, prompt);
    this.append(prompt.el);
  }

  onBusy(frame) {
    // Another client started a run first: keep our command for when it ends.
    if (this.pending && frame.clientRequestId === this.pending.clientRequestId) {
      this.pending.bubble.remove();
      this.queue.unshift(this.pending.text);
      this.pending = null;
      this.renderQueue();
      this.setState('running');
    }
  }

  onError(frame) {
    const ours = this.pending && frame.clientRequestId === this.pending.clientRequestId;
    if (ours) {
      this.pending.bubble.classList.add('failed');
      this.pending = null;
      if (!this.sessionId) this.setState('new');
    }
    this.append(note(frame.message || frame.error || 'Error', 'error'));
    this.updateHeader();
  }

  /** A normalized agent event (docs/protocol.md §5). */
  onEvent(event, data) {
    switch (event.kind) {
      case 'text':
      case 'thinking': {
        const Kind = event.kind === 'text' ? AssistantText : Thinking;
        if (!event.delta || !(this.current instanceof Kind)) this.startSegment(new Kind());
        this.current.append(event.text || '');
        if (!event.delta) this.current = null; // a whole segment: the next text is a new one
        break;
      }
      case 'tool-call': {
        this.endSegment();
        const tool = new ToolCall(event.id, event.name, event.input);
        if (event.id) this.tools.set(event.id, tool);
        this.append(tool.el);
        break;
      }
      case 'tool-result': {
        this.endSegment();
        const tool = this.tools.get(event.id);
        if (tool) {
          tool.finish(event.output, event.isError);
          for (const prompt of this.permissions.values()) if (prompt.toolName === tool.name) prompt.close('Answered');
        }
        break;
      }
      case 'usage':
        this.usage.inputTokens += event.inputTokens || 0;
        this.usage.outputTokens += event.outputTokens || 0;
        this.usage.costUsd += event.costUsd || 0;
        this.usage.reports += 1;
        this.updateHeader();
        break;
      case 'notice':
        if (event.level === 'error') this.append(note(event.message, 'error'));
        else if (event.level === 'warning') this.append(note(event.message, 'warning'));
        break;
      case 'other':
        this.maybeUserLine(data);
        break;
      default:
        break;
    }
  }

  /** Cursor echoes the prompt as a `user` line: show it when this page did not already. */
  maybeUserLine(data) {
    if (this.echoedRun || !data || data.type !== 'user') return;
    const content = data.message?.content;
    const text = typeof content === 'string'
      ? content
      : Array.isArray(content) ? content.filter((p) => p?.type === 'text').map((p) => p.text).join('') : '';
    if (text) {
      this.append(userBubble(text));
      this.echoedRun = true;
    }
  }

  startSegment(segment) {
    this.endSegment();
    this.current = segment;
    this.append(segment.el);
    this.dirty.add(segment);
  }

  endSegment() {
    if (this.current) this.dirty.add(this.current);
    this.current = null;
  }

  setState(state) {
    this.state = state;
    this.updateHeader();
    this.onStateChange?.(this);
  }

  // ---- rendering ---------------------------------------------------------------------------

  append(node) {
    // The first prompt names the chat.
    if (node.classList?.contains('user') && !this.named) {
      this.named = true;
      const text = node.textContent.trim();
      this.title.textContent = text.length > 60 ? `${text.slice(0, 60)}…` : text;
      this.title.title = text;
    }
    const stick = this.nearBottom();
    this.log.append(node);
    if (stick) this.scrollToEnd();
  }

  nearBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  scheduleRender() {
    if (this.current instanceof AssistantText) this.dirty.add(this.current);
    if (this.renderTimer || this.dirty.size === 0) return;
    // A timer, not requestAnimationFrame: a background tab must keep up too.
    this.renderTimer = setTimeout(() => this.flushRender(), RENDER_EVERY_MS);
  }

  flushRender() {
    clearTimeout(this.renderTimer);
    this.renderTimer = null;
    const stick = this.nearBottom();
    for (const segment of this.dirty) segment.render?.();
    this.dirty.clear();
    if (stick) this.scrollToEnd();
  }

  // ---- controls ----------------------------------------------------------------------------

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = '';
    if (this.busy) {
      this.queue.push(text);
      this.renderQueue();
    } else {
      this.send(text);
    }
    this.updateHeader();
  }

  /** Sends a prompt: a new session for a draft, the next turn otherwise. */
  send(text) {
    const clientRequestId = randomId();
    rememberPrompt(clientRequestId, text);
    const options = { queue: Boolean(this.sessionId) };
    if (this.options.model) options.model = this.options.model;
    if (this.options.permissionMode) options.permissionMode = this.options.permissionMode;
    if (this.sessionId) options.sessionId = this.sessionId;
    else options.projectPath = this.project.path;
    if (!this.sessionId && this.resumeId) options.sessionId = this.resumeId;
    const bubble = userBubble(text, { pending: true });
    this.pending = { clientRequestId, bubble, text };
    this.echoedRun = true;
    this.append(bubble);
    this.scrollToEnd();
    this.connection.send({ type: `${this.provider}-command`, command: text, options, clientRequestId });
    if (!this.sessionId) this.setState('starting');
    this.updateHeader();
  }

  /** A run ended: the oldest queued follow-up goes out. */
  sendQueued() {
    if (this.busy || this.queue.length === 0) return;
    const text = this.queue.shift();
    this.renderQueue();
    this.send(text);
  }

  renderQueue() {
    this.queueList.replaceChildren(
      ...this.queue.map((text, i) =>
        h('li', { class: 'queued' },
          h('span', { class: 'queued-label' }, 'Queued'),
          h('span', { class: 'queued-text' }, text),
          h('button', {
            class: 'link', 'aria-label': 'Remove from queue',
            onclick: () => { this.queue.splice(i, 1); this.renderQueue(); },
          }, '×'))),
    );
  }

  stop() {
    if (this.sessionId) this.connection.send({ type: 'abort-session', sessionId: this.sessionId });
  }

  answer(requestId, { allow, remember }) {
    const message = { type: 'claude-permission-response', requestId, allow };
    if (!allow) message.message = 'Denied from the web app';
    if (remember) message.rememberEntry = this.permissions.get(requestId)?.toolName || true;
    this.connection.send(message);
  }

  /** Called by the app once `session-accepted` names the new session. */
  adopt(sessionId) {
    this.sessionId = sessionId;
    this.loaded = true;
    if (!this.named) this.title.textContent = 'Session';
    this.providerLabel?.remove();
    this.onCreated?.(this);
  }

  /** A conversation from an agent's own store, before Switchboard continues it. */
  async loadTranscript() {
    this.title.textContent = 'Continue a conversation';
    try {
      const transcript = await api.transcript(this.resumeId, this.provider);
      for (const message of transcript.messages || []) {
        if (message.text && message.role === 'user') this.append(userBubble(message.text));
        else if (message.text) this.onEvent({ kind: 'text', text: message.text, delta: false });
        for (const call of message.toolCalls || []) this.onEvent({ kind: 'tool-call', ...call });
        for (const result of message.toolResults || []) this.onEvent({ kind: 'tool-result', ...result });
      }
      if (transcript.truncated) this.append(note('Older messages are not shown.', 'muted'));
      this.append(note('Your next message continues this conversation through Switchboard.', 'muted'));
    } catch (error) {
      this.append(note(`No transcript: ${error.message}`, 'warning'));
    }
    this.flushRender();
  }

  focus() {
    this.input.focus();
  }
}
