//! Adopting a hand-built kubernetes (see the module above).
