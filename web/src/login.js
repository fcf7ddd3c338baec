// The login screen, and the token a login URL carries (`/#token=…`, printed at first start;
// `?token=` is accepted too). Either way the token is posted to /api/login once, in exchange
// for an HttpOnly cookie, and removed from the address bar and history at once.

import { h } from './dom.js';
import * as api from './api.js';

/** Takes a token out of the URL, if there is one. */
export function takeTokenFromUrl() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const token = hash.get('token') || query.get('token');
  if (!token) return null;
  query.delete('token');
  const search = query.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}`);
  return token;
}

/** Shows the token form in `root`; resolves once a login succeeded. */
export function showLogin(root, message) {
  return new Promise((resolve) => {
    const input = h('input', {
      id: 'token', name: 'token', type: 'password', autocomplete: 'current-password',
      required: true, spellcheck: 'false', 'aria-describedby': 'login-help',
    });
    const error = h('p', { class: 'login-error', role: 'alert' }, message || '');
    const button = h('button', { type: 'submit' }, 'Log in');
    const form = h('form', {
      class: 'login-card',
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        error.textContent = '';
        try {
          if (await api.login(input.value.trim())) {
            resolve();
            return;
          }
          error.textContent = 'That token is not right.';
        } catch (e) {
          error.textContent = `Could not reach the server: ${e.message}`;
        }
        button.disabled = false;
        input.select();
      },
    },
    h('h1', {}, 'Switchboard'),
    h('label', { for: 'token' }, 'Access token'),
    input,
    h('p', { id: 'login-help', class: 'help' },
      'Open the login URL the server printed when it first started, or paste the token ',
      '(switchboard token show prints it).'),
    error,
    button);
    root.replaceChildren(h('main', { class: 'login' }, form));
    input.focus();
  });
}
