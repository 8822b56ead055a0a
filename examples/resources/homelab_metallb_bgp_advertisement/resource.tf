# Announce the `lan` pool to the router only, with a community alias.
resource "homelab_metallb_bgp_advertisement" "lan" {
  name             = "lan"
  ip_address_pools = ["lan"]
  peers            = ["router"]
  local_pref       = 100
  communities      = ["65000:100", "no-export"]
}
