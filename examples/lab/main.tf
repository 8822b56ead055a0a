# The example lab: what `make demo` applies against homelab-sim. This file
# and variables.tf are the root module's own (the provider and its
# credentials); the others are the site itself, which examples/modules/site
# shares (docs/guides/lab.md walks through them in the order the apply runs):
#
#   site.tf     the site's inputs (name, address plan, nodes, domains, edge)
#   proxmox.tf  the Talos cloud image, a template, and the nodes' VMs
#               spread over two Proxmox VE nodes
#   talos.tf    Talos secrets, configurations, apply, bootstrap, kubeconfig
#   metallb.tf  MetalLB's pool and L2 advertisement, through that kubeconfig
#   dns.tf      internal names in Technitium, public ones in Cloudflare
#   edge.tf     the edge router's firewall (RouterOS or pfSense: var.edge)
#   outputs.tf  endpoints and DNS names (kubeconfig, talosconfig: talos.tf)
#
# Point the variables (or the TECHNITIUM_* / CLOUDFLARE_* environment
# variables, PROXMOX_VE_*, ROS_* and PFSENSE_*) at your own servers to use it
# for real.

terraform {
  required_version = ">= 1.11"
  required_providers {
    homelab = {
      source = "labforge/homelab"
    }
  }
}

provider "homelab" {
  technitium {
    url   = var.technitium_url
    token = var.technitium_token
  }
  cloudflare {
    api_token = var.cloudflare_api_token
    base_url  = var.cloudflare_base_url
  }
  proxmox {
    endpoint  = var.proxmox_endpoint
    api_token = var.proxmox_api_token
  }
  # Needed with edge = "routeros"; otherwise only while its URL is given
  # (e.g. to remove the RouterOS rules after a switch to another edge).
  dynamic "routeros" {
    for_each = var.edge == "routeros" || var.routeros_url != null ? [1] : []
    content {
      url            = var.routeros_url
      username       = var.routeros_username
      password       = var.routeros_password
      ca_certificate = var.routeros_ca_certificate
    }
  }
  # Likewise with edge = "pfsense".
  dynamic "pfsense" {
    for_each = var.edge == "pfsense" || var.pfsense_url != null ? [1] : []
    content {
      url            = var.pfsense_url
      api_key        = var.pfsense_api_key
      username       = var.pfsense_username
      password       = var.pfsense_password
      ca_certificate = var.pfsense_ca_certificate
    }
  }
}
