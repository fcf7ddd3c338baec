// The projects sidebar: every registered project with its conversations from every provider
// (Switchboard's own and those found in the agents' stores), each with a live state badge.
// `session-upserted`/`session-removed` (from `watch-sessions`) update it in place;
// `projects_updated` and reconnects refetch.

import { h, relativeTime } from './dom.js';
import * as api from './api.js';

const SHOWN_PER_PROJECT = 30;

export class Sidebar {
  constructor({ onNavigate, onAddProject }) {
    this.onNavigate = onNavigate;
    this.projects = [];
    this.sessions = new Map(); // projectId → [ProjectSession]
    this.collapsed = new Set();
    this.activeKey = null;
    this.list = h('nav', { class: 'projects', 'aria-label': 'Projects' });
    this.el = h('aside', { class: 'sidebar', id: 'sidebar' },
      h('div', { class: 'sidebar-head' },
        h('h2', {}, 'Projects'),
        h('button', { class: 'add-project', onclick: onAddProject }, '+ Add project')),
      this.list);
    this.refetchTimer = null;
  }

  async refresh() {
    this.projects = await api.listProjects();
    const lists = await Promise.all(
      this.projects.map((p) => api.projectSessions(p.id).catch(() => this.sessions.get(p.id) || [])),
    );
    this.projects.forEach((p, i) => this.sessions.set(p.id, lists[i]));
    this.render();
  }

  /** Coalesces bursts of change notices into one refetch. */
  refetchSoon() {
    clearTimeout(this.refetchTimer);
    this.refetchTimer = setTimeout(() => this.refresh().catch(() => {}), 300);
  }

  project(id) {
    return this.projects.find((p) => p.id === id) || null;
  }

  projectOfSession(sessionId) {
    for (const [projectId, list] of this.sessions) {
      if (list.some((s) => s.sessionId === sessionId)) return this.project(projectId);
    }
    return null;
  }

  /** A `session-upserted` summary: move the session to the top with its new state. */
  upsert(summary) {
    const list = this.sessions.get(summary.projectId);
    if (!list) {
      this.refetchSoon();
      return;
    }
    const index = list.findIndex(
      (s) => s.sessionId === summary.sessionId ||
        (summary.providerSessionId && s.provider === summary.provider && s.providerSessionId === summary.providerSessionId),
    );
    const previous = index >= 0 ? list.splice(index, 1)[0] : {};
    list.unshift({
      ...previous,
      provider: summary.provider,
      sessionId: summary.sessionId,
      providerSessionId: summary.providerSessionId ?? previous.providerSessionId ?? null,
      title: summary.title ?? previous.title ?? null,
      state: summary.state,
      lastActivity: summary.updatedAt ?? Date.now(),
    });
    this.render();
  }

  remove(sessionId) {
    for (const list of this.sessions.values()) {
      const index = list.findIndex((s) => s.sessionId === sessionId);
      if (index >= 0) list.splice(index, 1);
    }
    this.render();
  }

  setActive(key) {
    this.activeKey = key;
    for (const link of this.list.querySelectorAll('a.session-link')) {
      const active = link.dataset.key === key;
      link.classList.toggle('active', active);
      if (active) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  render() {
    if (this.projects.length === 0) {
      this.list.replaceChildren(h('p', { class: 'empty' }, 'No projects yet. Add one to start.'));
      return;
    }
    this.list.replaceChildren(...this.projects.map((p) => this.renderProject(p)));
  }

  renderProject(project) {
    const collapsed = this.collapsed.has(project.id);
    const sessions = (this.sessions.get(project.id) || []).slice(0, SHOWN_PER_PROJECT);
    return h('section', { class: 'project', dataset: { projectId: project.id } },
      h('div', { class: 'project-head' },
        h('button', {
          class: 'project-toggle', 'aria-expanded': String(!collapsed), title: project.path,
          onclick: () => {
            if (collapsed) this.collapsed.delete(project.id);
            else this.collapsed.add(project.id);
            this.render();
          },
        }, h('span', { class: 'chevron', 'aria-hidden': 'true' }, collapsed ? '▸' : '▾'), project.displayName),
        h('a', { class: 'new-session', href: `/new/${project.id}`, title: `New session in ${project.displayName}`, onclick: (e) => this.follow(e) }, '+ New')),
      collapsed ? null : h('ul', { class: 'sessions' },
        sessions.length ? sessions.map((s) => this.renderSession(project, s)) : h('li', { class: 'empty' }, 'No sessions yet')));
  }

  renderSession(project, s) {
    const key = s.sessionId || `${s.provider}:${s.providerSessionId}`;
    const href = s.sessionId
      ? `/session/${s.sessionId}`
      : `/resume/${project.id}/${s.provider}/${encodeURIComponent(s.providerSessionId)}`;
    const state = s.state || 'stored';
    const title = s.title || `${s.provider} session ${(s.sessionId || s.providerSessionId || '').slice(0, 8)}`;
    return h('li', {},
      h('a', {
        class: `session-link${key === this.activeKey ? ' active' : ''}`, href, dataset: { key, sessionId: s.sessionId || '' },
        onclick: (e) => this.follow(e),
      },
        h('span', { class: 'session-line' },
          h('span', { class: `provider provider-${s.provider}` }, s.provider),
          h('span', { class: `badge state-${state}` }, state)),
        h('span', { class: 'session-name' }, title),
        h('time', { class: 'when' }, relativeTime(s.lastActivity))));
  }

  follow(event) {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    this.onNavigate(event.currentTarget.getAttribute('href'));
  }
}
