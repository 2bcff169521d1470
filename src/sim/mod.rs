//! A simulated Asterisk (`agent call`): places AudioSocket calls, records replies, reports timing.
