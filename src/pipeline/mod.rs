//! The seam between a call's transport and the handler that converses on it, plus the echo handler.
