# One filter rule. It goes to the end of the table; to manage a chain's
# order, use homelab_routeros_firewall_ruleset instead.
resource "homelab_routeros_firewall_filter" "wireguard" {
  chain    = "input"
  action   = "accept"
  protocol = "udp"
  dst_port = "51820"
  comment  = "wireguard"
}

# Custom chains: jump to them from a built-in one.
resource "homelab_routeros_firewall_filter" "to_lan_in" {
  chain             = "forward"
  action            = "jump"
  jump_target       = "lan-in"
  in_interface_list = "LAN"
  comment           = "lan traffic"
}

resource "homelab_routeros_firewall_filter" "no_smtp" {
  chain       = "lan-in"
  action      = "reject"
  reject_with = "icmp-admin-prohibited"
  protocol    = "tcp"
  dst_port    = "25"
  comment     = "no direct smtp"
}
