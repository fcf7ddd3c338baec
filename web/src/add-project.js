// "Add project": a path (typed, or picked from the directories where agents already have
// sessions, GET /api/projects/discovered), registered with POST /api/projects.

import { h, relativeTime } from './dom.js';
import * as api from './api.js';

export function openAddProject({ onAdded }) {
  const path = h('input', { id: 'project-path', name: 'path', required: true, placeholder: '/home/me/code/app', spellcheck: 'false', autocomplete: 'off' });
  const name = h('input', { id: 'project-name', name: 'displayName', placeholder: 'optional', autocomplete: 'off' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const suggestions = h('ul', { class: 'suggestions', 'aria-label': 'Suggestions' }, h('li', { class: 'muted' }, 'Looking for projects…'));
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'add-project-title' });

  const add = async (chosenPath, displayName) => {
    error.textContent = '';
    try {
      const project = await api.addProject(chosenPath, displayName || undefined);
      dialog.close();
      onAdded(project);
    } catch (e) {
      error.textContent = e.message;
    }
  };

  dialog.append(
    h('form', { method: 'dialog', onsubmit: (e) => { e.preventDefault(); add(path.value.trim(), name.value.trim()); } },
      h('h2', { id: 'add-project-title' }, 'Add a project'),
      h('label', { for: 'project-path' }, 'Directory on the server'), path,
      h('label', { for: 'project-name' }, 'Name'), name,
      error,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel'),
        h('button', { type: 'submit' }, 'Add'))),
    h('h3', {}, 'Suggestions'),
    h('p', { class: 'help' }, 'Directories where Claude Code, Codex or Gemini already have sessions.'),
    suggestions);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  path.focus();

  api.discoveredProjects().then((found) => {
    if (found.length === 0) {
      suggestions.replaceChildren(h('li', { class: 'muted' }, 'No suggestions: no agent sessions found outside your projects.'));
      return;
    }
    suggestions.replaceChildren(...found.map((d) =>
      h('li', {},
        h('div', { class: 'suggestion-text' },
          h('strong', {}, d.suggestedName), h('code', {}, d.path),
          h('span', { class: 'muted' }, `${d.providers.join(', ')} · ${d.sessionCount} sessions · ${relativeTime(d.lastActivity)}`)),
        h('button', { type: 'button', disabled: !d.exists, title: d.exists ? 'Register this directory' : 'The directory no longer exists', onclick: () => add(d.path, d.suggestedName) }, 'Add'))));
  }).catch((e) => suggestions.replaceChildren(h('li', { class: 'muted' }, `Suggestions unavailable: ${e.message}`)));
}
