resource "homelab_routeros_firewall_nat" "masquerade" {
  chain              = "srcnat"
  action             = "masquerade"
  out_interface_list = "WAN"
  comment            = "masquerade"
}

resource "homelab_routeros_firewall_nat" "plex" {
  chain             = "dstnat"
  action            = "dst-nat"
  protocol          = "tcp"
  dst_port          = "32400"
  in_interface_list = "WAN"
  to_addresses      = "192.168.88.20"
  comment           = "plex"
}
