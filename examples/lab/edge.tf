# The edge router: it routes between the lab's VLANs and the internet, and
# its firewall keeps them apart. var.edge says which kind of router the lab
# has; each kind's resources exist only when it is that kind (RouterOS here;
# a pfSense variant goes beside it, built from the same networks).
#
# The policy, for traffic through the router:
#   - replies to allowed connections pass; invalid packets are dropped;
#   - management reaches everything;
#   - WireGuard clients reach the cluster;
#   - home reaches the cluster only at its load balancers (MetalLB's pool,
#     where the ingress is), on http and https; the cluster does not reach home;
#   - the VLANs reach the internet;
#   - everything else is dropped (and logged).
# And for the router itself: WireGuard from anywhere, DNS from the VLANs,
# ssh, winbox and the REST API (which Terraform uses) from management only.

locals {
  # The lab's VLANs, by the names the firewall rules use.
  networks = {
    management = "10.0.10.0/24"
    cluster    = "10.0.20.0/24" # the Proxmox VMs (VLAN 20, proxmox.tf)
    home       = "10.0.30.0/24"
    wireguard  = "10.0.99.0/24" # the router's WireGuard clients
  }
  # What the rules match on: the VLANs, and the cluster's load balancers.
  address_lists = merge(local.networks, { ingress = local.lb_pool })

  routeros = var.edge == "routeros"
}

check "edge_firewall" {
  assert {
    condition     = var.edge != "pfsense"
    error_message = "With edge = \"pfsense\" this configuration manages no edge firewall: the lab's pfSense resources are not written yet."
  }
}

# ---------------------------------------------------------------- RouterOS

resource "homelab_routeros_firewall_address_list" "lab" {
  for_each = local.routeros ? local.address_lists : {}

  list    = each.key
  address = each.value
  comment = "lab: ${each.key}"
}

# Traffic through the router. Rules match in order: the first one that
# matches decides.
resource "homelab_routeros_firewall_ruleset" "forward" {
  count = local.routeros ? 1 : 0

  table = "filter"
  chain = "forward"
  rules = [
    {
      action           = "accept"
      connection_state = ["established", "related"]
      comment          = "replies"
    },
    {
      action           = "drop"
      connection_state = ["invalid"]
      comment          = "invalid"
    },
    {
      action           = "accept"
      src_address_list = "management"
      comment          = "management to everything"
    },
    {
      action           = "accept"
      src_address_list = "wireguard"
      dst_address_list = "cluster"
      comment          = "wireguard clients to the cluster"
    },
    {
      action           = "accept"
      protocol         = "tcp"
      dst_port         = "80,443"
      src_address_list = "home"
      dst_address_list = "ingress"
      comment          = "home to the ingress (http, https)"
    },
    # The default deny drops these too; stated, they keep the cluster and
    # home apart even when a broader accept is added below them.
    {
      action           = "drop"
      src_address_list = "home"
      dst_address_list = "cluster"
      comment          = "home isolated from the cluster"
    },
    {
      action           = "drop"
      src_address_list = "cluster"
      dst_address_list = "home"
      comment          = "cluster isolated from home"
    },
    {
      action             = "accept"
      in_interface_list  = "LAN"
      out_interface_list = "WAN"
      comment            = "vlans to the internet"
    },
    {
      action     = "drop"
      log        = true
      log_prefix = "forward-drop"
      comment    = "default deny"
    },
  ]

  # The rules name the lists: create the lists first, and remove the rules
  # before the lists (a rule whose list is gone matches nothing).
  depends_on = [homelab_routeros_firewall_address_list.lab]
}

# Traffic to the router itself.
resource "homelab_routeros_firewall_ruleset" "input" {
  count = local.routeros ? 1 : 0

  table = "filter"
  chain = "input"
  rules = [
    {
      action           = "accept"
      connection_state = ["established", "related"]
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
      action   = "accept"
      protocol = "udp"
      dst_port = "51820"
      comment  = "wireguard"
    },
    # Keep this one: Terraform reaches the REST API (www-ssl, 443) through it.
    {
      action           = "accept"
      protocol         = "tcp"
      dst_port         = "22,443,8291"
      src_address_list = "management"
      comment          = "ssh, rest api and winbox from management"
    },
    {
      action            = "accept"
      protocol          = "udp"
      dst_port          = "53"
      in_interface_list = "!WAN"
      comment           = "dns from the vlans (udp)"
    },
    {
      action            = "accept"
      protocol          = "tcp"
      dst_port          = "53"
      in_interface_list = "!WAN"
      comment           = "dns from the vlans (tcp)"
    },
    {
      action     = "drop"
      log        = true
      log_prefix = "input-drop"
      comment    = "default deny"
    },
  ]

  depends_on = [homelab_routeros_firewall_address_list.lab]
}

# The router resolves for the VLANs (home can reach the load balancers but
# not the DNS server on the cluster VLAN): it forwards the lab's zone, and
# so every name in it (nodes, k8s, ingress, services), to Technitium.
resource "homelab_routeros_dns_static" "lab_zone" {
  count = local.routeros ? 1 : 0

  name            = var.lab_domain
  type            = "FWD"
  forward_to      = local.dns_server
  match_subdomain = true
  comment         = "lab zone to technitium"
}
