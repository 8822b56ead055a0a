//! Adopting a hand-built cloudflare (see the module above).
