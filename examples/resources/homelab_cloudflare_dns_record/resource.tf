# Look the zone up once; with a token scoped to one zone, use `zone_id`
# instead of `name` (listing zones needs the zone list permission).
data "homelab_cloudflare_zone" "main" {
  name = "example.com"
}

# An address record, proxied through Cloudflare (proxied records always use
# ttl = 1, "automatic").
resource "homelab_cloudflare_dns_record" "www" {
  zone_id = data.homelab_cloudflare_zone.main.id
  name    = "www" # relative to the zone; "www.example.com" works too
  type    = "A"
  content = "203.0.113.10"
  proxied = true
  comment = "Front door"
  tags    = ["env:prod", "owner:homelab"]
}

# Mail: MX needs a priority.
resource "homelab_cloudflare_dns_record" "mx" {
  zone_id  = data.homelab_cloudflare_zone.main.id
  name     = "@"
  type     = "MX"
  content  = "mail.example.com"
  priority = 10
  ttl      = 3600
}

# TXT content may be written with or without quotes; long values are split
# into 255-byte strings by Cloudflare without showing as a change.
resource "homelab_cloudflare_dns_record" "spf" {
  zone_id = data.homelab_cloudflare_zone.main.id
  name    = "@"
  type    = "TXT"
  content = "v=spf1 include:_spf.example.com -all"
}

# SRV: the priority is `priority`; weight, port and target go in `data`.
resource "homelab_cloudflare_dns_record" "sip" {
  zone_id  = data.homelab_cloudflare_zone.main.id
  name     = "_sip._tcp"
  type     = "SRV"
  priority = 10
  data = {
    weight = 5
    port   = 5060
    target = "sip.example.com"
  }
}

# CAA: flags, tag and value go in `data`.
resource "homelab_cloudflare_dns_record" "caa" {
  zone_id = data.homelab_cloudflare_zone.main.id
  name    = "@"
  type    = "CAA"
  data = {
    flags = 0
    tag   = "issue"
    value = "letsencrypt.org"
  }
}

# NS: delegate lab.example.com to a DNS server at home (its address as a
# glue A record below the delegation). An NS record stands alone at its name.
resource "homelab_cloudflare_dns_record" "lab_ns" {
  zone_id = data.homelab_cloudflare_zone.main.id
  name    = "lab"
  type    = "NS"
  content = "ns1.lab.example.com"
}

resource "homelab_cloudflare_dns_record" "lab_ns_glue" {
  zone_id = data.homelab_cloudflare_zone.main.id
  name    = "ns1.lab"
  type    = "A"
  content = "203.0.113.53"
}
