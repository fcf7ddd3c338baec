// Prompts this browser sent, by `clientRequestId`. The journal keeps each run's prompt in
// `session-accepted`, but sessions journaled before it did carry only the id; for those a
// reload, or a second tab, finds the text here and shows it where it belongs.

const KEY = 'switchboard.prompts';
const KEEP = 500;

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || [];
  } catch {
    return [];
  }
}

export function rememberPrompt(clientRequestId, text) {
  const entries = load().filter(([id]) => id !== clientRequestId);
  entries.push([clientRequestId, text]);
  try {
    localStorage.setItem(KEY, JSON.stringify(entries.slice(-KEEP)));
  } catch {
    // Storage full or disabled: only the reload loses the prompt text.
  }
}

export function recallPrompt(clientRequestId) {
  if (!clientRequestId) return null;
  const found = load().find(([id]) => id === clientRequestId);
  return found ? found[1] : null;
}

/** A random id (crypto.randomUUID needs a secure context; this does not). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
