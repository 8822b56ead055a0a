# The upstream router, with its password in a basic-auth Secret.
resource "homelab_metallb_bgp_peer" "router" {
  name            = "router"
  my_asn          = 64512
  peer_asn        = 64513
  peer_address    = "192.168.1.1"
  hold_time       = "90s"
  keepalive_time  = "30s"
  password_secret = { name = "bgp-auth" }
}
