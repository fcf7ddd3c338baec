// Line diffs for file edits: tools report the old and new text (Edit/replace tools) or a
// unified diff; both are shown as +/- lines.

const MAX_CELLS = 4_000_000; // beyond this the LCS table is too big; show all-removed/all-added

/** [{op: ' ' | '-' | '+', line}] from two texts, by longest common subsequence. */
export function lineDiff(before, after) {
  const a = before ? before.split('\n') : [];
  const b = after ? after.split('\n') : [];
  if (a.length * b.length > MAX_CELLS) {
    return [...a.map((line) => ({ op: '-', line })), ...b.map((line) => ({ op: '+', line }))];
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', line: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: '-', line: a[i++] });
    } else {
      out.push({ op: '+', line: b[j++] });
    }
  }
  while (i < a.length) out.push({ op: '-', line: a[i++] });
  while (j < b.length) out.push({ op: '+', line: b[j++] });
  return out;
}

/** Lines of a unified diff text, classified. */
export function parseUnifiedDiff(text) {
  return text.split('\n').map((line) => {
    if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('@@')) {
      return { op: '@', line };
    }
    const op = line[0];
    return op === '+' || op === '-' ? { op, line: line.slice(1) } : { op: ' ', line: line.slice(1) };
  });
}

/** Looks like a unified diff. */
export function isUnifiedDiff(text) {
  return typeof text === 'string' && /^@@ .* @@/m.test(text) && /^[+-]/m.test(text);
}

/**
 * The edits a tool call's input describes, as [{path, before, after}] or [{path, diff}]:
 * Claude's Edit/MultiEdit/Write, gemini's replace/write_file, cursor's edit args, and any
 * input carrying a unified diff. Empty when the call is not a file edit.
 */
export function editsOf(name, input) {
  if (!input || typeof input !== 'object') return [];
  const path = input.file_path ?? input.path ?? input.filePath ?? input.target_file ?? '';
  const oldText = input.old_string ?? input.oldString ?? input.old_str;
  const newText = input.new_string ?? input.newString ?? input.new_str;
  if (typeof oldText === 'string' && typeof newText === 'string') {
    return [{ path, before: oldText, after: newText }];
  }
  if (Array.isArray(input.edits)) {
    return input.edits.flatMap((edit) => editsOf(name, { file_path: path, ...edit }));
  }
  for (const key of ['diff', 'patch', 'unified_diff']) {
    if (isUnifiedDiff(input[key])) return [{ path, diff: input[key] }];
  }
  const writes = /write|create/i.test(name || '');
  const content = input.content ?? input.contents ?? input.streamContent ?? input.fileText;
  if (writes && typeof content === 'string') return [{ path, before: '', after: content }];
  return [];
}
