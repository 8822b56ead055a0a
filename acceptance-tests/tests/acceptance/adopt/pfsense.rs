//! Adopting a hand-built pfsense (see the module above).
