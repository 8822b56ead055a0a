# One rule, appended to the end of the LAN rules.
resource "homelab_pfsense_firewall_rule" "ssh" {
  interface        = "LAN"
  type             = "pass"
  protocol         = "tcp"
  source           = "LAN"
  destination      = "LAN:ip"
  destination_port = "22"
  description      = "ssh to the firewall"
  log              = true
}

# Block a host on the WAN side.
resource "homelab_pfsense_firewall_rule" "block_scanner" {
  interface   = "WAN"
  type        = "block"
  source      = "203.0.113.9"
  description = "known scanner"
}
