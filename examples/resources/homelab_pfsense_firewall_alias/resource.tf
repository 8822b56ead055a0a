# A host alias: addresses and host names, each with a description.
resource "homelab_pfsense_firewall_alias" "web_servers" {
  name        = "web_servers"
  type        = "host"
  description = "Reverse proxies"
  entries = [
    { address = "10.0.0.20", description = "proxy 1" },
    { address = "10.0.0.21", description = "proxy 2" },
    { address = "proxy3.home.arpa" },
  ]
}

# A port alias: ports and ranges (`start:end`).
resource "homelab_pfsense_firewall_alias" "web_ports" {
  name = "web_ports"
  type = "port"
  entries = [
    { address = "443" },
    { address = "8000:8080", description = "dev servers" },
  ]
}

# A network alias: subnets.
resource "homelab_pfsense_firewall_alias" "trusted" {
  name = "trusted_nets"
  type = "network"
  entries = [
    { address = "10.0.0.0/24" },
    { address = "10.0.10.0/24", description = "vpn" },
  ]
}
