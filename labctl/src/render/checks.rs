//! Renderers of check reports (table, short, json).
