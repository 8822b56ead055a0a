# The example lab: what `make demo` applies against homelab-sim.
#
# The machines are Proxmox VE VMs (proxmox.tf): a template built from a cloud
# image and three cluster nodes cloned from it. Internal names live in
# Technitium (a zone for the lab, with the nodes, the cluster API VIP, the
# ingress and the services behind it); public names in Cloudflare. The edge
# router's firewall keeps the VLANs apart (edge.tf).
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

locals {
  cluster_vip = "10.0.20.10"
  dns_server  = "10.0.20.2" # Technitium, on the cluster VLAN
  ingress_ip  = "10.0.20.50"
  lb_pool     = "10.0.20.50-10.0.20.59" # MetalLB's pool; the ingress is its first address
  public_ip   = "203.0.113.10"
  services    = toset(["grafana", "argocd", "home"])
}

# ---------------------------------------------------------------- internal DNS

resource "homelab_technitium_zone" "lab" {
  name = var.lab_domain
}

resource "homelab_technitium_dns_record" "api" {
  zone  = homelab_technitium_zone.lab.name
  name  = "k8s"
  type  = "A"
  value = local.cluster_vip
  ttl   = 300
}

resource "homelab_technitium_dns_record" "ingress" {
  zone  = homelab_technitium_zone.lab.name
  name  = "ingress"
  type  = "A"
  value = local.ingress_ip
}

resource "homelab_technitium_dns_record" "service" {
  for_each = local.services

  zone  = homelab_technitium_zone.lab.name
  name  = each.key
  type  = "CNAME"
  value = "ingress.${var.lab_domain}"
}

resource "homelab_technitium_dns_record" "api_srv" {
  zone     = homelab_technitium_zone.lab.name
  name     = "_kube-api._tcp"
  type     = "SRV"
  priority = 10
  weight   = 100
  port     = 6443
  value    = "k8s.${var.lab_domain}"
}

resource "homelab_technitium_dns_record" "spf" {
  zone  = homelab_technitium_zone.lab.name
  name  = "@"
  type  = "TXT"
  value = "v=spf1 -all"
}

# ---------------------------------------------------------------- public DNS

resource "homelab_cloudflare_dns_record" "lab" {
  zone_id = var.cloudflare_zone_id
  name    = "lab"
  type    = "A"
  content = local.public_ip
  proxied = true
  comment = "Reverse proxy in front of the lab"
  tags    = ["owner:labforge"]
}

resource "homelab_cloudflare_dns_record" "vpn" {
  zone_id = var.cloudflare_zone_id
  name    = "vpn"
  type    = "A"
  content = local.public_ip
  ttl     = 300
}

resource "homelab_cloudflare_dns_record" "status" {
  zone_id = var.cloudflare_zone_id
  name    = "status"
  type    = "CNAME"
  content = "lab.${var.cloudflare_zone_name}"
  proxied = true
}

output "internal_names" {
  value = concat(
    ["k8s.${var.lab_domain}", "ingress.${var.lab_domain}"],
    [for s in local.services : "${s}.${var.lab_domain}"],
  )
}
