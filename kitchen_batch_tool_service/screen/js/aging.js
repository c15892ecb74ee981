// Ticket age: the text on the timer and its level. Pure: every time is passed in.

export const DEFAULT_AGING = Object.freeze({ warn_after_secs: 300, late_after_secs: 480 });

/** Whole seconds since `receivedMs` (server clock), never negative. */
export function ageSeconds(receivedMs, localNowMs, serverOffsetMs = 0) {
  if (!Number.isFinite(receivedMs) || !Number.isFinite(localNowMs)) return 0;
  const secs = Math.floor((localNowMs + (serverOffsetMs || 0) - receivedMs) / 1000);
  return secs > 0 ? secs : 0;
}

/** 462 -> "7:42", 3725 -> "62:05" (minutes keep counting: a kitchen reads minutes). */
export function formatAge(secs) {
  const s = Math.max(0, Math.floor(secs || 0));
  const m = Math.floor(s / 60);
  const r = s % 60;
  return `${m}:${r < 10 ? '0' : ''}${r}`;
}

/** 'ok' below warn, 'warn' from warn_after_secs, 'late' from late_after_secs. */
export function ageLevel(secs, aging = DEFAULT_AGING) {
  const warn = Number.isFinite(aging?.warn_after_secs) ? aging.warn_after_secs : DEFAULT_AGING.warn_after_secs;
  const late = Number.isFinite(aging?.late_after_secs) ? aging.late_after_secs : DEFAULT_AGING.late_after_secs;
  if (secs >= late) return 'late';
  if (secs >= warn) return 'warn';
  return 'ok';
}

/** The text label beside the timer, so that colour is never the only signal. */
export function levelLabel(level) {
  return level === 'late' ? 'LATE' : level === 'warn' ? 'WAIT' : '';
}

/** Icon beside the label (text glyphs: no font or image needed). */
export function levelIcon(level) {
  return level === 'late' ? '\u26A0' : level === 'warn' ? '\u25B2' : '';
}

/** Everything a timer shows. */
export function agingInfo(receivedMs, localNowMs, serverOffsetMs, aging) {
  const secs = ageSeconds(receivedMs, localNowMs, serverOffsetMs);
  const level = ageLevel(secs, aging);
  return { secs, text: formatAge(secs), level, label: levelLabel(level), icon: levelIcon(level) };
}

/** Local wall clock "HH:MM" (header clock, "OFFLINE since HH:MM"). */
export function clockText(ms) {
  const d = new Date(ms);
  const h = d.getHours();
  const m = d.getMinutes();
  return `${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}`;
}
