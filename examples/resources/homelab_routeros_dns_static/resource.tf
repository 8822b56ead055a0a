resource "homelab_routeros_dns_static" "nas" {
  name    = "nas.home.arpa"
  address = "192.168.88.10"
  ttl     = "1h"
}

resource "homelab_routeros_dns_static" "files" {
  name  = "files.home.arpa"
  type  = "CNAME"
  cname = "nas.home.arpa"
}

resource "homelab_routeros_dns_static" "mail" {
  name          = "home.arpa"
  type          = "MX"
  mx_exchange   = "mail.home.arpa"
  mx_preference = 10
}

# Every name under ads.example answers NXDOMAIN.
resource "homelab_routeros_dns_static" "ads" {
  name            = "ads.example"
  type            = "NXDOMAIN"
  match_subdomain = true
}
