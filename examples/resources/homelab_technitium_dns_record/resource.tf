resource "homelab_technitium_zone" "home" {
  name = "home.arpa"
}

# A and AAAA: the address goes in `value`. Names are relative to the zone,
# `@` for the apex, or fully qualified.
resource "homelab_technitium_dns_record" "nas" {
  zone  = homelab_technitium_zone.home.name
  name  = "nas"
  type  = "A"
  value = "192.168.1.20"
  ttl   = 300
}

resource "homelab_technitium_dns_record" "nas_v6" {
  zone  = homelab_technitium_zone.home.name
  name  = "nas.home.arpa."
  type  = "AAAA"
  value = "fd00::20"
}

# Round robin: one resource per value. Give them the same ttl: the server
# keeps one TTL per name and type.
resource "homelab_technitium_dns_record" "web" {
  for_each = toset(["192.168.1.30", "192.168.1.31"])

  zone  = homelab_technitium_zone.home.name
  name  = "web"
  type  = "A"
  value = each.value
  ttl   = 60
}

resource "homelab_technitium_dns_record" "files" {
  zone     = homelab_technitium_zone.home.name
  name     = "files"
  type     = "CNAME"
  value    = "nas.home.arpa"
  comments = "SMB and NFS shares"
}

resource "homelab_technitium_dns_record" "spf" {
  zone  = homelab_technitium_zone.home.name
  name  = "@"
  type  = "TXT"
  value = "v=spf1 mx -all"
}

# MX: `priority` is the preference, `value` the exchange.
resource "homelab_technitium_dns_record" "mail" {
  zone     = homelab_technitium_zone.home.name
  name     = "@"
  type     = "MX"
  priority = 10
  value    = "mail.home.arpa"
}

# SRV: `priority`, `weight`, `port`, and the target in `value`.
resource "homelab_technitium_dns_record" "sip" {
  zone     = homelab_technitium_zone.home.name
  name     = "_sip._udp"
  type     = "SRV"
  priority = 10
  weight   = 5
  port     = 5060
  value    = "pbx.home.arpa"
}

# CAA: `flags`, `tag`, and the value.
resource "homelab_technitium_dns_record" "caa" {
  zone  = homelab_technitium_zone.home.name
  name  = "@"
  type  = "CAA"
  flags = 0
  tag   = "issue"
  value = "letsencrypt.org"
}

# Keep a record but stop serving it.
resource "homelab_technitium_dns_record" "old" {
  zone     = homelab_technitium_zone.home.name
  name     = "legacy"
  type     = "A"
  value    = "192.168.1.99"
  disabled = true
}
