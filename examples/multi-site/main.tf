# Two sites from one module: examples/modules/site (the lab of examples/lab)
# applied twice, each through its own provider configuration (an alias per
# site: its own Proxmox VE cluster, Technitium, router, Talos nodes and
# Cloudflare account). Site 1 has a RouterOS edge, site 2 a pfSense one; the
# sites differ in name, address plan and internal zone, and share nothing
# but this configuration.
#
# var.sites holds each site's endpoints and credentials; homelab-sim
# --sites 2 writes them (`{"sites": {"site1": {...}, "site2": {...}}}`).
# A third site is a third provider block and a third module block.

terraform {
  required_version = ">= 1.11"
  required_providers {
    homelab = {
      source = "labforge/homelab"
    }
  }
}

provider "homelab" {
  alias = "site1"

  technitium {
    url   = var.sites.site1.technitium_url
    token = var.sites.site1.technitium_token
  }
  cloudflare {
    api_token = var.sites.site1.cloudflare_api_token
    base_url  = var.sites.site1.cloudflare_base_url
  }
  proxmox {
    endpoint  = var.sites.site1.proxmox_endpoint
    api_token = var.sites.site1.proxmox_api_token
  }
  routeros {
    url            = var.sites.site1.routeros_url
    username       = var.sites.site1.routeros_username
    password       = var.sites.site1.routeros_password
    ca_certificate = var.sites.site1.routeros_ca_certificate
  }
}

provider "homelab" {
  alias = "site2"

  technitium {
    url   = var.sites.site2.technitium_url
    token = var.sites.site2.technitium_token
  }
  cloudflare {
    api_token = var.sites.site2.cloudflare_api_token
    base_url  = var.sites.site2.cloudflare_base_url
  }
  proxmox {
    endpoint  = var.sites.site2.proxmox_endpoint
    api_token = var.sites.site2.proxmox_api_token
  }
  pfsense {
    url      = var.sites.site2.pfsense_url
    username = var.sites.site2.pfsense_username
    password = var.sites.site2.pfsense_password
  }
}

locals {
  # Site 2 is smaller: one control plane on pve1, one worker on pve2 (the
  # other Talos nodes homelab-sim starts for it stay unused).
  site2_nodes = {
    cp1 = { proxmox_node = "pve1", host = 21 }
    w1  = { proxmox_node = "pve2", host = 31 }
  }
}

module "site1" {
  source    = "../modules/site"
  providers = { homelab = homelab.site1 }

  site_name            = "home"
  lab_domain           = "home.lab.arpa"
  cloudflare_zone_id   = var.sites.site1.cloudflare_zone_id
  cloudflare_zone_name = var.sites.site1.cloudflare_zone_name
  edge                 = "routeros"
  talos_nodes          = var.sites.site1.talos_nodes
  # The defaults: 10.0.x.0/24, three control planes and two workers
  # spread over pve1 and pve2.
}

module "site2" {
  source    = "../modules/site"
  providers = { homelab = homelab.site2 }

  site_name            = "colo"
  lab_domain           = "colo.lab.arpa"
  cloudflare_zone_id   = var.sites.site2.cloudflare_zone_id
  cloudflare_zone_name = var.sites.site2.cloudflare_zone_name
  edge                 = "pfsense"
  talos_nodes          = { for name, endpoint in var.sites.site2.talos_nodes : name => endpoint if contains(keys(local.site2_nodes), name) }
  nodes                = local.site2_nodes
  address_plan = {
    management = "10.1.10.0/24"
    cluster    = "10.1.20.0/24"
    home       = "10.1.30.0/24"
    wireguard  = "10.1.99.0/24"
    public_ip  = "198.51.100.20"
  }
  # homelab-sim's pfSense has WAN, LAN and DMZ: the cluster comes in on
  # DMZ, the other networks share LAN.
  pfsense_interfaces = {
    wan        = "WAN"
    management = "LAN"
    cluster    = "DMZ"
    home       = "LAN"
    wireguard  = "LAN"
  }
}

output "sites" {
  description = "Both sites' endpoints and DNS names."
  value = {
    site1 = { endpoints = module.site1.endpoints, dns_names = module.site1.dns_names }
    site2 = { endpoints = module.site2.endpoints, dns_names = module.site2.dns_names }
  }
}

output "kubeconfigs" {
  description = "Each site's admin kubeconfig."
  value = {
    site1 = module.site1.kubeconfig
    site2 = module.site2.kubeconfig
  }
  sensitive = true
}
