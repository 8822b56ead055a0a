resource "homelab_pfsense_firewall_alias" "web_servers" {
  name    = "web_servers"
  type    = "host"
  entries = [{ address = "10.0.0.20" }, { address = "10.0.0.21" }]
}

# The LAN's rules, top to bottom: rules are reordered, inserted and removed
# without a moment where traffic both versions block gets through, and the
# changes are applied once at the end.
resource "homelab_pfsense_firewall_ruleset" "lan" {
  interface = "LAN"
  rules = [
    {
      type             = "pass"
      protocol         = "udp"
      source           = "LAN"
      destination      = "LAN:ip"
      destination_port = "53"
      description      = "dns"
    },
    {
      type             = "pass"
      protocol         = "tcp"
      source           = "LAN"
      destination      = homelab_pfsense_firewall_alias.web_servers.name
      destination_port = "443"
      description      = "to the web servers"
    },
    {
      type        = "pass"
      protocol    = "icmp"
      icmptype    = ["echoreq"]
      description = "ping"
    },
    {
      type             = "block"
      protocol         = "tcp"
      destination_port = "25"
      log              = true
      description      = "no direct smtp"
    },
    {
      type        = "pass"
      source      = "LAN"
      description = "lan to anywhere"
    },
  ]
}
