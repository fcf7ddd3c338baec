// Switchboard's web app: log in, then a projects sidebar and one chat view at a time, all fed
// by one WebSocket (connection.js) and the REST API (api.js). Routes:
//   /                          welcome
//   /session/<id>              a session (history, then live)
//   /new/<projectId>           a new session in a project
//   /resume/<projectId>/<provider>/<nativeId>   continue a conversation found in an agent's store

import { h } from './dom.js';
import * as api from './api.js';
import { Connection } from './connection.js';
import { loadMarkdown } from './markdown.js';
import { showLogin, takeTokenFromUrl } from './login.js';
import { Sidebar } from './sidebar.js';
import { SessionView } from './session-view.js';
import { openAddProject } from './add-project.js';

const root = document.body;
const CONNECTION_LABEL = { online: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline — reconnecting' };
const PREFERENCES = 'switchboard.new-session';

class App {
  constructor() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.connection = new Connection(`${scheme}://${location.host}/ws`);
    this.views = new Map(); // sessionId → SessionView (kept, so each stays subscribed and current)
    this.current = null;
    this.draft = null;
    this.sidebar = new Sidebar({
      onNavigate: (path) => this.navigate(path),
      onAddProject: () => openAddProject({ onAdded: (p) => this.sidebar.refresh().then(() => this.navigate(`/new/${p.id}`)) }),
    });
  }

  async start() {
    this.indicator = h('span', { class: 'connection', role: 'status', 'aria-live': 'polite' });
    this.menuButton = h('button', {
      class: 'menu', 'aria-controls': 'sidebar', 'aria-expanded': 'false', 'aria-label': 'Projects',
      onclick: () => this.toggleSidebar(),
    }, '☰');
    this.main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
    this.layout = h('div', { class: 'app' },
      h('header', { class: 'topbar' },
        this.menuButton,
        h('a', { class: 'brand', href: '/', onclick: (e) => { e.preventDefault(); this.navigate('/'); } }, 'Switchboard'),
        this.indicator,
        h('button', { class: 'secondary logout', onclick: () => this.logout() }, 'Log out')),
      this.sidebar.el,
      h('div', { class: 'scrim', onclick: () => this.toggleSidebar(false) }),
      this.main);
    root.replaceChildren(this.layout);
    this.showStatus(this.connection.status);
    this.connection.addEventListener('status', (e) => this.showStatus(e.detail));
    this.connection.addEventListener('frame', (e) => this.onFrame(e.detail));
    this.connection.addEventListener('open', (e) => {
      for (const view of this.views.values()) view.subscribe();
      if (e.detail.reconnected) this.sidebar.refresh().catch(() => {});
    });
    this.connection.addEventListener('failing', () => this.checkLogin());
    window.addEventListener('popstate', () => this.route());
    document.addEventListener('keydown', (e) => this.onKey(e));
    await this.sidebar.refresh();
    this.connection.start();
    await this.route();
  }

  showStatus(status) {
    this.indicator.textContent = CONNECTION_LABEL[status] || status;
    this.indicator.className = `connection conn-${status}`;
  }

  /** Every frame from the socket goes to the view it belongs to. */
  onFrame(frame) {
    switch (frame.type) {
      case 'session-upserted':
        this.sidebar.upsert(frame.session);
        return;
      case 'session-removed':
        this.sidebar.remove(frame.sessionId);
        return;
      case 'projects_updated':
        this.sidebar.refetchSoon();
        return;
      default:
        break;
    }
    const draft = this.draft;
    if (draft && frame.clientRequestId && draft.pending?.clientRequestId === frame.clientRequestId) {
      if ((frame.type === 'session-accepted' || frame.type === 'session-queued') && frame.sessionId) {
        draft.adopt(frame.sessionId);
        this.views.set(frame.sessionId, draft);
        this.draft = null;
        history.replaceState(null, '', `/session/${frame.sessionId}`);
        this.sidebar.setActive(frame.sessionId);
      }
      draft.apply(frame);
      return;
    }
    const view = frame.sessionId && this.views.get(frame.sessionId);
    if (view) {
      view.apply(frame);
      return;
    }
    if (frame.type === 'error') {
      const owner = [...this.views.values()].find((v) => v.pending && v.pending.clientRequestId === frame.clientRequestId);
      (owner || this.current)?.apply(frame);
    }
  }

  navigate(path) {
    if (path !== location.pathname) history.pushState(null, '', path);
    this.toggleSidebar(false);
    return this.route();
  }

  async route() {
    const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'session' && parts[1]) return this.showSession(parts[1]);
    if (parts[0] === 'new' && parts[1]) return this.showDraft(parts[1]);
    if (parts[0] === 'resume' && parts.length >= 4) return this.showDraft(parts[1], { provider: parts[2], resumeId: parts[3] });
    return this.showWelcome();
  }

  async showSession(sessionId) {
    let view = this.views.get(sessionId);
    if (!view) {
      view = new SessionView({ sessionId, project: this.sidebar.projectOfSession(sessionId), connection: this.connection });
      this.views.set(sessionId, view);
    }
    this.show(view, sessionId);
    try {
      await view.open();
    } catch (error) {
      if (error instanceof api.Unauthorized) this.checkLogin();
    }
  }

  showDraft(projectId, { provider, resumeId } = {}) {
    const project = this.sidebar.project(projectId);
    if (!project) return this.showWelcome('That project is not registered (any more).');
    const saved = loadPreferences();
    this.draft = new SessionView({
      sessionId: null, project, connection: this.connection,
      provider: provider || saved.provider, model: resumeId ? '' : saved.model, permissionMode: saved.permissionMode,
      resumeId,
      onCreated: (view) => savePreferences({ provider: view.provider, ...view.options }),
    });
    this.show(this.draft, resumeId ? `${provider}:${resumeId}` : null);
    if (resumeId) this.draft.loadTranscript();
  }

  showWelcome(message) {
    this.current = null;
    this.sidebar.setActive(null);
    const first = this.sidebar.projects[0];
    this.main.replaceChildren(h('section', { class: 'welcome' },
      h('h2', {}, 'Welcome'),
      message ? h('p', { class: 'form-error' }, message) : null,
      h('p', {}, first
        ? 'Pick a session on the left, or start a new one.'
        : 'Add a project directory to start: agents run only inside registered projects.'),
      first
        ? h('button', { onclick: () => this.navigate(`/new/${first.id}`) }, `New session in ${first.displayName}`)
        : h('button', { onclick: () => this.sidebar.el.querySelector('.add-project').click() }, 'Add a project')));
  }

  show(view, key) {
    this.current = view;
    this.main.replaceChildren(view.el);
    this.sidebar.setActive(key);
    view.scrollToEnd();
    view.focus();
  }

  toggleSidebar(open) {
    const show = open ?? !this.layout.classList.contains('sidebar-open');
    this.layout.classList.toggle('sidebar-open', show);
    this.menuButton.setAttribute('aria-expanded', String(show));
    if (show) this.sidebar.el.querySelector('a, button')?.focus();
  }

  onKey(event) {
    if (event.key === 'Escape' && this.layout.classList.contains('sidebar-open')) {
      this.toggleSidebar(false);
      this.menuButton.focus();
    }
  }

  /** The socket keeps failing: if the cookie is gone, log in again. */
  async checkLogin() {
    try {
      await api.listProjects();
    } catch (error) {
      if (error instanceof api.Unauthorized) {
        this.connection.stop();
        await showLogin(root, 'Your browser session ended. Log in again.');
        location.reload();
      }
    }
  }

  async logout() {
    this.connection.stop();
    await api.logout().catch(() => {});
    location.assign('/');
  }
}

function loadPreferences() {
  try {
    return JSON.parse(localStorage.getItem(PREFERENCES)) || {};
  } catch {
    return {};
  }
}

function savePreferences(preferences) {
  try {
    localStorage.setItem(PREFERENCES, JSON.stringify(preferences));
  } catch {
    // Only the defaults of the next new session are lost.
  }
}

async function boot() {
  const markdown = loadMarkdown();
  const token = takeTokenFromUrl();
  let message = null;
  if (token && !(await api.login(token).catch(() => false))) {
    message = 'The token in that link is not valid (any more).';
  }
  for (;;) {
    try {
      await api.listProjects();
      break;
    } catch (error) {
      if (!(error instanceof api.Unauthorized)) {
        message = `The server did not answer: ${error.message}`;
      }
      await showLogin(root, message);
      message = null;
    }
  }
  await markdown;
  const app = new App();
  // A handle for the browser console (and the end-to-end tests): `switchboard.connection`.
  window.switchboard = app;
  await app.start();
}

boot();
