# Names. Internal ones in the site's Technitium zone: the Kubernetes API's
# VIP, the ingress and the web services behind it, the LoadBalancer services
# MetalLB announces, and the nodes (proxmox.tf). Public ones in Cloudflare:
# the site's reverse proxy, its VPN and a status page.

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

# LoadBalancer services outside the ingress, at their pinned addresses.
resource "homelab_technitium_dns_record" "load_balancer" {
  for_each = local.load_balancers

  zone  = homelab_technitium_zone.lab.name
  name  = each.key
  type  = "A"
  value = each.value
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
  name    = var.site_name
  type    = "A"
  content = local.public_ip
  proxied = true
  comment = "Reverse proxy in front of ${var.site_name}"
  tags    = ["owner:labforge"]
}

resource "homelab_cloudflare_dns_record" "vpn" {
  zone_id = var.cloudflare_zone_id
  name    = "vpn.${var.site_name}"
  type    = "A"
  content = local.public_ip
  ttl     = 300
}

resource "homelab_cloudflare_dns_record" "status" {
  zone_id = var.cloudflare_zone_id
  name    = "status.${var.site_name}"
  type    = "CNAME"
  content = "${var.site_name}.${var.cloudflare_zone_name}"
  proxied = true
}
