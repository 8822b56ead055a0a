//! Adopting a hand-built technitium (see the module above).
