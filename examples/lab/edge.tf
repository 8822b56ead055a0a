# The edge router: it routes between the lab's VLANs and the internet, and
# its firewall keeps them apart. var.edge says which kind of router the lab
# has, RouterOS or pfSense; each kind's resources exist only when it is that
# kind, and both are built from the same networks and the same policy.
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
    management = var.address_plan.management
    cluster    = var.address_plan.cluster # the Proxmox VMs (VLAN 20, proxmox.tf)
    home       = var.address_plan.home
    wireguard  = var.address_plan.wireguard # the router's WireGuard clients
  }
  # What the rules match on: the VLANs, and the cluster's load balancers.
  address_lists = merge(local.networks, { ingress = local.lb_pool })

  routeros = var.edge == "routeros"
  pfsense  = var.edge == "pfsense"
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

# ---------------------------------------------------------------- pfSense
#
# pfSense filters a packet on the interface it comes IN on: that interface's
# rules, top to bottom, first match wins (nothing is filtered on the way out,
# and there is no forward/input split: traffic to the router itself is the
# traffic whose destination is `(self)`, any of its addresses). So each rule
# belongs to the interface of the network its traffic comes from:
#   - "management to everything" on management's interface;
#   - "wireguard clients to the cluster" on WireGuard's (the tunnel's);
#   - "home to the ingress" and "home isolated from the cluster" on home's;
#   - "cluster isolated from home" on the cluster's;
#   - "to the internet" on each VLAN's own;
#   - DNS, ping and (from management) ssh and the web configurator, where
#     the REST API Terraform uses is served, on every network's interface;
#   - WireGuard's handshake, from the internet, on the WAN;
# and each interface ends with its own default deny.
#
# The lab zone's names: RouterOS forwards them to Technitium (below); on
# pfSense that is a DNS Resolver domain override (Services > DNS Resolver),
# which this provider does not manage yet.
#
# Replies and invalid packets need no rules here: pfSense is stateful. A pass
# rule keeps state ("keep state"), and the replies of a connection it let in
# match that state on any interface; a packet that matches no state and
# does not open a connection (e.g. TCP without SYN, as pass rules match
# "flags S/SA") is passed by no rule and falls to the block at the end.
# (pfSense docs: Firewall > Stateful Filtering; Firewall Rule Configuration,
# TCP Flags.)

locals {
  # The aliases the rules name (prefixed: an alias may not be named like an
  # interface, and a lab may well have one called HOME or CLUSTER).
  pfsense_alias = merge(
    { for name in keys(local.address_lists) : name => "lab_${name}" },
    {
      lab   = "lab_networks" # every VLAN: what "the internet" is not
      http  = "lab_http"     # ports 80 and 443
      admin = "lab_admin"    # ssh and the web configurator (22, 443)
    },
  )

  # pfSense aliases take addresses and subnets, not ranges: MetalLB's pool
  # (a range within one /24), address by address.
  lb_pool_ends = split("-", local.lb_pool)
  lb_pool_hosts = [
    for i in range(tonumber(split(".", local.lb_pool_ends[0])[3]), tonumber(split(".", local.lb_pool_ends[1])[3]) + 1) :
    cidrhost("${local.lb_pool_ends[0]}/24", i)
  ]

  # What every network may send to the router itself, and nothing else.
  pfsense_to_router = {
    for name in keys(local.networks) : name => [
      {
        type             = "pass"
        protocol         = "tcp/udp"
        source           = local.pfsense_alias[name]
        destination      = "(self)"
        destination_port = "53"
        description      = "${name}: dns"
      },
      {
        type        = "pass"
        protocol    = "icmp"
        icmptype    = ["echoreq"]
        source      = local.pfsense_alias[name]
        destination = "(self)"
        description = "${name}: ping"
      },
      {
        type        = "block"
        source      = local.pfsense_alias[name]
        destination = "(self)"
        log         = true
        description = "${name}: nothing else to the router"
      },
    ]
  }

  # The rules for the traffic that comes in from each network (by its
  # source alias) and from the internet (on the WAN), in order.
  pfsense_rules = {
    wan = [
      {
        type             = "pass"
        protocol         = "udp"
        destination      = "${var.pfsense_interfaces.wan}:ip"
        destination_port = "51820"
        description      = "wireguard"
      },
      {
        type        = "pass"
        protocol    = "icmp"
        icmptype    = ["echoreq"]
        destination = "${var.pfsense_interfaces.wan}:ip"
        description = "ping"
      },
    ]
    management = concat(
      [
        # Keep this one: Terraform reaches the REST API (443) through it.
        {
          type             = "pass"
          protocol         = "tcp"
          source           = local.pfsense_alias.management
          destination      = "(self)"
          destination_port = local.pfsense_alias.admin
          description      = "management: ssh and the web configurator (rest api)"
        },
      ],
      local.pfsense_to_router.management,
      [
        {
          type        = "pass"
          source      = local.pfsense_alias.management
          description = "management to everything"
        },
      ],
    )
    wireguard = concat(
      local.pfsense_to_router.wireguard,
      [
        {
          type        = "pass"
          source      = local.pfsense_alias.wireguard
          destination = local.pfsense_alias.cluster
          description = "wireguard clients to the cluster"
        },
      ],
    )
    home = concat(
      local.pfsense_to_router.home,
      [
        {
          type             = "pass"
          protocol         = "tcp"
          source           = local.pfsense_alias.home
          destination      = local.pfsense_alias.ingress
          destination_port = local.pfsense_alias.http
          description      = "home to the ingress (http, https)"
        },
        # The rule to the internet skips the VLANs anyway; stated, this one
        # keeps home and the cluster apart even when a broader pass is added.
        {
          type        = "block"
          source      = local.pfsense_alias.home
          destination = local.pfsense_alias.cluster
          description = "home isolated from the cluster"
        },
        {
          type        = "pass"
          source      = local.pfsense_alias.home
          destination = "!${local.pfsense_alias.lab}"
          description = "home to the internet"
        },
      ],
    )
    cluster = concat(
      local.pfsense_to_router.cluster,
      [
        {
          type        = "block"
          source      = local.pfsense_alias.cluster
          destination = local.pfsense_alias.home
          description = "cluster isolated from home"
        },
        {
          type        = "pass"
          source      = local.pfsense_alias.cluster
          destination = "!${local.pfsense_alias.lab}"
          description = "cluster to the internet"
        },
      ],
    )
  }

  # One ruleset per interface: the rules of the networks on it (each rule
  # matches its network's alias as source, so networks may share one), then
  # the interface's default deny.
  pfsense_rulesets = {
    for interface in distinct(values(var.pfsense_interfaces)) : interface => concat(
      flatten([for name, rules in local.pfsense_rules : rules if var.pfsense_interfaces[name] == interface]),
      [{ type = "block", log = true, description = "default deny" }],
    )
  }
}

resource "homelab_pfsense_firewall_alias" "network" {
  for_each = local.pfsense ? local.networks : {}

  name        = local.pfsense_alias[each.key]
  type        = "network"
  description = "lab: ${each.key}"
  entries     = [{ address = each.value }]
}

resource "homelab_pfsense_firewall_alias" "ingress" {
  count = local.pfsense ? 1 : 0

  name        = local.pfsense_alias.ingress
  type        = "host"
  description = "lab: the cluster's load balancers (MetalLB's pool)"
  entries     = [for address in local.lb_pool_hosts : { address = address }]

  lifecycle {
    precondition {
      condition     = cidrhost("${local.lb_pool_ends[0]}/24", 0) == cidrhost("${local.lb_pool_ends[1]}/24", 0)
      error_message = "The load balancers' pool (${local.lb_pool}) must lie within one /24."
    }
  }
}

resource "homelab_pfsense_firewall_alias" "lab_networks" {
  count = local.pfsense ? 1 : 0

  name        = local.pfsense_alias.lab
  type        = "network"
  description = "lab: every VLAN"
  entries     = [for name, network in local.networks : { address = network, description = name }]
}

resource "homelab_pfsense_firewall_alias" "ports" {
  for_each = local.pfsense ? {
    http  = ["80", "443"]
    admin = ["22", "443"]
  } : {}

  name        = local.pfsense_alias[each.key]
  type        = "port"
  description = "lab: ${each.key} ports"
  entries     = [for port in each.value : { address = port }]
}

resource "homelab_pfsense_firewall_ruleset" "lab" {
  for_each = { for interface, rules in local.pfsense_rulesets : interface => rules if local.pfsense }

  interface = each.key
  rules     = each.value

  # The rules name the aliases: create the aliases first, and remove the
  # rules before the aliases (a rule whose alias is gone stops pfSense's
  # filter from loading; the provider refuses to delete an alias in use).
  depends_on = [
    homelab_pfsense_firewall_alias.network,
    homelab_pfsense_firewall_alias.ingress,
    homelab_pfsense_firewall_alias.lab_networks,
    homelab_pfsense_firewall_alias.ports,
  ]
}
