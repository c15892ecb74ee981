// The new-order chime, generated with WebAudio (no audio file). Browsers allow sound only after
// a touch or key press: unlock() is called on the first one.

export class Sound {
  constructor({ minGapMs = 1500 } = {}) {
    this.ctx = null;
    this.minGapMs = minGapMs;
    this.lastAt = 0;
    this.played = 0;
  }

  get enabled() {
    return !!this.ctx && this.ctx.state === 'running';
  }

  /** Creates or resumes the AudioContext; must run inside a user gesture. */
  unlock() {
    const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AC) return Promise.resolve(false);
    if (!this.ctx) this.ctx = new AC();
    if (this.ctx.state === 'running') return Promise.resolve(true);
    return this.ctx.resume().then(() => this.enabled, () => false);
  }

  /** Two short rising tones; at most one chime per minGapMs however many orders arrive. */
  chime() {
    const now = Date.now();
    if (!this.enabled || now - this.lastAt < this.minGapMs) return false;
    this.lastAt = now;
    this.played += 1;
    const ctx = this.ctx;
    const t0 = ctx.currentTime + 0.01;
    for (const [freq, start] of [[880, 0], [1320, 0.18]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + start);
      gain.gain.exponentialRampToValueAtTime(0.35, t0 + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + start + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + start);
      osc.stop(t0 + start + 0.18);
      osc.onended = () => { osc.disconnect(); gain.disconnect(); };
    }
    return true;
  }
}
