// Bump-bar keys: arrows move the highlight, Enter bumps, Backspace/R recalls, digits pick.

/** A keydown -> an action {type, ...} or null. Pure. */
export function keyAction(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  switch (e.key) {
    case 'ArrowLeft': return { type: 'move', dx: -1, dy: 0 };
    case 'ArrowRight': return { type: 'move', dx: 1, dy: 0 };
    case 'ArrowUp': return { type: 'move', dx: 0, dy: -1 };
    case 'ArrowDown': return { type: 'move', dx: 0, dy: 1 };
    case 'Enter': case ' ': return { type: 'bump' };
    case 'Backspace': case 'r': case 'R': return { type: 'recall' };
    case 'PageDown': return { type: 'page', delta: 1 };
    case 'PageUp': return { type: 'page', delta: -1 };
    case 'Escape': return { type: 'escape' };
    case 'u': case 'U': return { type: 'undo' };
    default:
      if (/^[1-9]$/.test(e.key)) return { type: 'pick', n: Number(e.key) };
      return null;
  }
}

/** One listener for the page's life; returns its remover. */
export function attachKeys(target, handle) {
  const listener = (e) => {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const action = keyAction(e);
    if (!action) return;
    e.preventDefault();
    handle(action);
  };
  target.addEventListener('keydown', listener);
  return () => target.removeEventListener('keydown', listener);
}
