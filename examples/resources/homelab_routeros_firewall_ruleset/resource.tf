# The whole input chain, in order. The ruleset owns the rules whose comment
# starts with [homelab]; RouterOS's dynamic rules and other rules stay (below
# these). Reorders, inserts and removals never open a window: after every
# request, each packet gets the old ruleset's verdict or the new one's.
resource "homelab_routeros_firewall_ruleset" "input" {
  table = "filter"
  chain = "input"
  rules = [
    {
      action           = "accept"
      connection_state = ["established", "related", "untracked"]
      comment          = "replies"
    },
    {
      action           = "drop"
      connection_state = ["invalid"]
      comment          = "invalid"
    },
    {
      action   = "accept"
      protocol = "icmp"
      comment  = "ping"
    },
    {
      action            = "accept"
      protocol          = "tcp"
      dst_port          = "22,8291"
      src_address_list  = "admins"
      in_interface_list = "LAN"
      comment           = "ssh and winbox from admins"
    },
    {
      action            = "accept"
      protocol          = "udp"
      dst_port          = "53"
      in_interface_list = "LAN"
      comment           = "dns from the lan"
    },
    # Deny by default (logged).
    {
      action     = "drop"
      log        = true
      log_prefix = "input-drop"
      comment    = "default deny"
    },
  ]
}

# Port forwards: the NAT table's dstnat chain.
resource "homelab_routeros_firewall_ruleset" "port_forwards" {
  table = "nat"
  chain = "dstnat"
  rules = [
    {
      action            = "dst-nat"
      protocol          = "tcp"
      dst_port          = "443"
      in_interface_list = "WAN"
      to_addresses      = "192.168.88.10"
      comment           = "https to the nas"
    },
  ]
}
