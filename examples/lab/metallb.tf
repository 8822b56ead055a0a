# ---------------------------------------------------------------- MetalLB
#
# LoadBalancer addresses for the Talos cluster of talos.tf, in L2 mode: the
# site's pool (site.tf: the ingress first, then the pinned services of
# dns.tf), announced with ARP from every node. The cluster is made in the
# same apply, so there is no provider `kubernetes` block: each resource
# reaches it with its own `kubernetes` attribute (write-only), from the
# Talos kubeconfig, unknown until apply: the plan needs no cluster. Without
# Talos nodes there is no cluster, and nothing here.

locals {
  metallb = local.talos_bootstrap == null ? 0 : 1
}

resource "homelab_metallb_ip_address_pool" "lab" {
  count = local.metallb

  name      = "${var.site_name}-pool"
  addresses = [local.lb_pool]

  kubernetes = {
    config_raw = homelab_talos_cluster_kubeconfig.lab[0].kubeconfig_raw
  }
}

resource "homelab_metallb_l2_advertisement" "lab" {
  count = local.metallb

  name             = "${var.site_name}-l2"
  ip_address_pools = [homelab_metallb_ip_address_pool.lab[0].name]

  kubernetes = {
    config_raw = homelab_talos_cluster_kubeconfig.lab[0].kubeconfig_raw
  }
}
