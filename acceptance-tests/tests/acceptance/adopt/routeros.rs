//! Adopting a hand-built routeros (see the module above).
