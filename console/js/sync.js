// Where the recording is in the transcript: pure functions over turn offsets, shared by the
// call view's player and its timeline.

/** Seconds from the call start to the start and end of each turn. */
export function turnSpans(call) {
  return (call.turns || []).map((turn) => {
    const start = Math.max(0, (turn.offset_ms ?? turn.started_at_ms - call.started_at_ms) / 1000);
    const end = Math.max(start, start + (turn.ended_at_ms - turn.started_at_ms) / 1000);
    return { seq: turn.seq, role: turn.role, start, end };
  });
}

/**
 * Index of the turn being played at `t` seconds: the last turn that has started by then
 * (so the highlight stays on a turn through the pause after it), or -1 before the first.
 * `spans` are in call order; equal starts resolve to the later turn.
 */
export function turnAt(spans, t) {
  let lo = 0;
  let hi = spans.length - 1;
  let found = -1;
  // Starts are non-decreasing in call order; binary search for the last start ≤ t.
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid].start <= t + 1e-3) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
