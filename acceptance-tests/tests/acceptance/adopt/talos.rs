//! Adopting a hand-built talos (see the module above).
