# The site: what makes this lab this lab, and what a second site changes
# (examples/modules/site is these files as a module; examples/multi-site
# uses it twice). Everything else is derived from these inputs.

variable "site_name" {
  description = "The site's name: the Talos nodes' VM names start with it, and its public DNS names are <site_name>, vpn.<site_name> and status.<site_name> in the public zone."
  type        = string
  default     = "lab"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.site_name))
    error_message = "The site name must be a DNS label of 2 to 32 characters: lower-case letters, digits and '-'."
  }
}

variable "address_plan" {
  description = <<-EOT
    The site's VLANs (IPv4 /24s) and its public address. The cluster VLAN
    holds the gateway (.1), Technitium (.2), the Kubernetes API VIP (.10),
    the nodes (their `host` numbers) and MetalLB's pool (.50 to .59, the
    ingress first).
  EOT
  type = object({
    management = string
    cluster    = string
    home       = string
    wireguard  = string
    public_ip  = string
  })
  default = {
    management = "10.0.10.0/24"
    cluster    = "10.0.20.0/24"
    home       = "10.0.30.0/24"
    wireguard  = "10.0.99.0/24" # the router's WireGuard clients
    public_ip  = "203.0.113.10"
  }
  nullable = false

  validation {
    condition = alltrue([
      for name in ["management", "cluster", "home", "wireguard"] :
      can(cidrhost(var.address_plan[name], 0)) && endswith(var.address_plan[name], "/24")
    ])
    error_message = "Each VLAN must be an IPv4 /24 such as 10.0.20.0/24."
  }
}

variable "nodes" {
  description = <<-EOT
    The cluster's machines by name: names starting with `cp` are control
    plane nodes, the others workers (as for `talos_nodes`). Each is a VM on
    `proxmox_node`, at `host` in the cluster VLAN.
  EOT
  type = map(object({
    proxmox_node = string
    host         = number
  }))
  # Spread over the two Proxmox nodes: losing one keeps two of the three
  # control planes (etcd's quorum) and one worker.
  default = {
    cp1 = { proxmox_node = "pve1", host = 21 }
    cp2 = { proxmox_node = "pve2", host = 22 }
    cp3 = { proxmox_node = "pve1", host = 23 }
    w1  = { proxmox_node = "pve2", host = 31 }
    w2  = { proxmox_node = "pve1", host = 32 }
  }
  nullable = false

  validation {
    condition     = alltrue([for n in values(var.nodes) : n.host >= 11 && n.host <= 49])
    error_message = "Node hosts must lie between .11 and .49 (below: gateway, DNS, VIP; above: MetalLB's pool)."
  }
}

variable "proxmox_template_node" {
  description = "The Proxmox VE node that downloads the Talos image and holds the template (on shared storage, so every node can clone it)."
  type        = string
  default     = "pve1"
  nullable    = false
}

variable "proxmox_shared_storage" {
  description = "Storage every Proxmox VE node shares (Ceph RBD, NFS, ...): the template's and the VMs' disks."
  type        = string
  default     = "ceph"
  nullable    = false
}

variable "lab_domain" {
  description = "The site's internal DNS zone (Technitium)."
  type        = string
  default     = "lab.home.arpa"
  nullable    = false
}

variable "cloudflare_zone_id" {
  description = "Id of the public zone (Cloudflare)."
  type        = string
}

variable "cloudflare_zone_name" {
  description = "Name of the public zone."
  type        = string
}

variable "edge" {
  description = "The site's edge router: \"routeros\" (MikroTik) or \"pfsense\" (edge.tf)."
  type        = string
  default     = "routeros"
  nullable    = false

  validation {
    condition     = contains(["routeros", "pfsense"], var.edge)
    error_message = "The edge must be \"routeros\" or \"pfsense\"."
  }
}

variable "pfsense_interfaces" {
  description = <<-EOT
    The pfSense interface (as its REST API names it: by description unless
    represent_interfaces_as says otherwise) that each of the lab's networks
    comes in on, and the WAN. Networks may share an interface (every rule
    matches its network by source); the WAN may not.
  EOT
  type = object({
    wan        = string
    management = string
    cluster    = string
    home       = string
    wireguard  = string
  })
  default = {
    wan        = "WAN"
    management = "MGMT"
    cluster    = "CLUSTER"
    home       = "HOME"
    wireguard  = "WG" # the WireGuard tunnel, assigned as an interface
  }

  validation {
    condition     = length([for name, interface in var.pfsense_interfaces : name if interface == var.pfsense_interfaces.wan]) == 1
    error_message = "The WAN's interface cannot also be a lab network's: its rules match traffic from anywhere."
  }
}

variable "talos_nodes" {
  description = <<-EOT
    Talos API endpoints of the cluster's nodes by name (`10.0.20.21` or
    `host:port`; port 50000 by default), keyed like `nodes`: names starting
    with `cp` are control plane nodes, the others workers. Nodes in
    maintenance mode get their configuration installed. On real hardware
    these are the VMs' addresses; homelab-sim writes its simulated nodes
    here. Empty: secrets and configurations only.
  EOT
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.talos_nodes) : contains(keys(var.nodes), name)])
    error_message = "Every Talos node must be one of the site's nodes (a VM of var.nodes, same name)."
  }
}

locals {
  # The cluster VLAN's fixed addresses.
  gateway     = cidrhost(var.address_plan.cluster, 1)
  dns_server  = cidrhost(var.address_plan.cluster, 2) # Technitium
  cluster_vip = cidrhost(var.address_plan.cluster, 10)
  # MetalLB's pool; the ingress is its first address.
  lb_pool    = "${cidrhost(var.address_plan.cluster, 50)}-${cidrhost(var.address_plan.cluster, 59)}"
  ingress_ip = cidrhost(var.address_plan.cluster, 50)
  public_ip  = var.address_plan.public_ip

  # The nodes' addresses, by name.
  node_ips = { for name, n in var.nodes : name => cidrhost(var.address_plan.cluster, n.host) }

  # LoadBalancer services with an address pinned in the pool (their
  # Service's metallb.io/loadBalancerIPs annotation), by DNS name.
  load_balancers = {
    mqtt  = cidrhost(var.address_plan.cluster, 51)
    unifi = cidrhost(var.address_plan.cluster, 52)
  }

  # The web services behind the ingress.
  services = toset(["grafana", "argocd", "home"])
}
