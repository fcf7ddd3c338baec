// The REST API (docs/api.md). The browser's login cookie authenticates every call.

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new Unauthorized('not logged in');
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a plain-text refusal); reported below with its status.
  }
  if (!response.ok) {
    throw new ApiError(response.status, json?.code, json?.message || text.trim());
  }
  return json;
}

/** POST /api/login: true when the token was right. */
export async function login(token) {
  const response = await fetch('/api/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return response.status === 204;
}

export const logout = () => request('POST', '/api/logout');
export const listProjects = () => request('GET', '/api/projects').then((r) => r.projects);
export const discoveredProjects = () =>
  request('GET', '/api/projects/discovered?limit=20').then((r) => r.projects);
export const addProject = (path, displayName) =>
  request('POST', '/api/projects', displayName ? { path, displayName } : { path });
export const projectSessions = (projectId) =>
  request('GET', `/api/projects/${encodeURIComponent(projectId)}/sessions?limit=100`).then(
    (r) => r.sessions,
  );
export const sessionDetail = (id) => request('GET', `/api/sessions/${encodeURIComponent(id)}`);
export const transcript = (id, provider) =>
  request(
    'GET',
    `/api/sessions/${encodeURIComponent(id)}/transcript${provider ? `?provider=${encodeURIComponent(provider)}` : ''}`,
  );

/** Every journaled frame after `afterSeq`, page by page, handed to `onFrame` in order. */
export async function replayEvents(id, afterSeq, onFrame) {
  let after = afterSeq;
  for (;;) {
    const page = await request(
      'GET',
      `/api/sessions/${encodeURIComponent(id)}/events?after_seq=${after}&limit=2000`,
    );
    for (const frame of page.events) onFrame(frame);
    after = page.nextAfterSeq;
    if (!page.hasMore || page.events.length === 0) return after;
  }
}
