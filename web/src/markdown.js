// Markdown for assistant text: parsed by marked, then sanitized by DOMPurify, both pinned in
// web/package-lock.json and copied into /vendor by scripts/build-web.sh. If they were not
// built into this binary, text is shown as plain text, which is safe too.

let renderer = null;

export async function loadMarkdown() {
  try {
    const [{ Marked }, purifyModule] = await Promise.all([
      import('/vendor/marked.esm.js'),
      import('/vendor/purify.es.mjs'),
    ]);
    const purify = purifyModule.default;
    const marked = new Marked({ gfm: true, breaks: false, async: false });
    // Links leave the app in a new tab, and tell the target nothing about us.
    purify.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName === 'A') {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
      }
    });
    renderer = (text) =>
      purify.sanitize(marked.parse(text), {
        FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'],
        FORBID_ATTR: ['style'],
      });
    return true;
  } catch {
    return false;
  }
}

/** Puts `text` into `el`: as sanitized markdown when available, else as plain text. */
export function renderMarkdown(el, text) {
  if (renderer) {
    el.innerHTML = renderer(text);
    el.classList.remove('plain');
  } else {
    el.textContent = text;
    el.classList.add('plain');
  }
}
