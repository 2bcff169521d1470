//! Asterisk Manager Interface client: login, action/response correlation, events, reconnect.
